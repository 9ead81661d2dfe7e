/**
 * Modbus register decoding: data types, the four byte/word orders, scaling.
 * Pure functions, no I/O. Orders name the wire position of the value's big-endian bytes
 * A (most significant) .. D, as meter manuals do; for 64-bit values the pattern extends
 * word by word (ABCD = ABCDEFGH, CDAB = GHEFCDAB, BADC = BADCFEHG, DCBA = HGFEDCBA).
 */

export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

export const WORD_ORDERS = ['ABCD', 'DCBA', 'BADC', 'CDAB'] as const;
/** ABCD big-endian, DCBA little-endian, BADC bytes swapped in each word, CDAB words swapped. */
export type WordOrder = (typeof WORD_ORDERS)[number];

export const FUNCTION_CODES = [1, 2, 3, 4] as const;
/** 1 coils, 2 discrete inputs (bits); 3 holding registers, 4 input registers (16-bit words). */
export type FunctionCode = (typeof FUNCTION_CODES)[number];

export function isBitFunction(fc: FunctionCode): boolean {
  return fc === 1 || fc === 2;
}

/** Number of 16-bit registers a value of `type` occupies. */
export function registerCount(type: RegisterType): 1 | 2 | 4 {
  switch (type) {
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'float64':
      return 4;
  }
}

/** Reorders wire bytes into big-endian order (and back: every reordering is its own inverse). */
function reorder(bytes: Uint8Array, order: WordOrder): Uint8Array {
  const n = bytes.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let j = i;
    if (order === 'DCBA') j = n - 1 - i;
    else if (order === 'BADC') j = i ^ 1;
    else if (order === 'CDAB') j = n - 2 - (i & ~1) + (i & 1);
    out[i] = bytes[j]!;
  }
  return out;
}

function wordsToBytes(words: ArrayLike<number>, count: number): Uint8Array {
  const bytes = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) {
    const w = words[i];
    if (w === undefined || !Number.isInteger(w) || w < 0 || w > 0xffff) {
      throw new RangeError(`register ${i} is ${String(w)}, not a 16-bit value`);
    }
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  }
  return bytes;
}

/** Decodes the raw value of `type` from the first registers of `words`, read in `order`. */
export function decodeRegisters(
  words: ArrayLike<number>,
  type: RegisterType,
  order: WordOrder = 'ABCD',
): number {
  const count = registerCount(type);
  if (words.length < count) {
    throw new RangeError(`${type} needs ${count} registers, got ${words.length}`);
  }
  const be = reorder(wordsToBytes(words, count), order);
  const view = new DataView(be.buffer);
  switch (type) {
    case 'int16':
      return view.getInt16(0);
    case 'uint16':
      return view.getUint16(0);
    case 'int32':
      return view.getInt32(0);
    case 'uint32':
      return view.getUint32(0);
    case 'float32':
      return view.getFloat32(0);
    case 'float64':
      return view.getFloat64(0);
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

/** Encodes `value` as registers of `type` in `order` (what a device serves); the inverse of decodeRegisters. */
export function encodeRegisters(value: number, type: RegisterType, order: WordOrder = 'ABCD'): number[] {
  const count = registerCount(type);
  const be = new Uint8Array(count * 2);
  const view = new DataView(be.buffer);
  const range = INT_RANGES[type];
  if (range && (!Number.isInteger(value) || value < range[0] || value > range[1])) {
    throw new RangeError(`${value} does not fit ${type} (${range[0]}..${range[1]})`);
  }
  switch (type) {
    case 'int16':
      view.setInt16(0, value);
      break;
    case 'uint16':
      view.setUint16(0, value);
      break;
    case 'int32':
      view.setInt32(0, value);
      break;
    case 'uint32':
      view.setUint32(0, value);
      break;
    case 'float32':
      view.setFloat32(0, value);
      break;
    case 'float64':
      view.setFloat64(0, value);
      break;
  }
  const wire = reorder(be, order);
  const words: number[] = [];
  for (let i = 0; i < count; i++) words.push((wire[2 * i]! << 8) | wire[2 * i + 1]!);
  return words;
}

/** value = raw × scale + offset: the engineering value from a register's raw value. */
export function scaleValue(raw: number, scale = 1, offset = 0): number {
  return raw * scale + offset;
}
