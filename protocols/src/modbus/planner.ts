/**
 * Request planner: merges the points of one device into as few reads as the protocol allows,
 * and maps each read's answer back to its points. Pure, no I/O.
 */
import {
  decodeRegisters,
  type FunctionCode,
  isBitFunction,
  type RegisterType,
  registerCount,
  type WordOrder,
} from './registers.ts';

/** Most registers one FC3/FC4 read may return (Modbus Application Protocol V1.1b3, 6.3 and 6.4). */
export const MAX_READ_REGISTERS = 125;
/** Most bits one FC1/FC2 read may return (Modbus Application Protocol V1.1b3, 6.1 and 6.2). */
export const MAX_READ_BITS = 2000;
/** Unused registers a read may span to join two points, unless a device or config says otherwise. */
export const DEFAULT_MAX_GAP = 16;
/** Highest data address plus one: addresses are 16-bit. */
export const ADDRESS_SPACE = 0x10000;

/** Where a point lives on a device. */
export interface PointAddress {
  unitId: number;
  fc: FunctionCode;
  address: number;
  type: RegisterType;
}

export interface PlanOptions {
  /** Registers per FC3/FC4 read, at most MAX_READ_REGISTERS (some meters allow fewer, e.g. Eastron 80). */
  maxRegisters?: number;
  /** Bits per FC1/FC2 read, at most MAX_READ_BITS. */
  maxBits?: number;
  /** Unused registers (or bits) a read may span to join two points; 0 joins only adjacent ones. */
  maxGap?: number;
}

/** One Modbus read and the points it answers; `offset` is the point's position in the answer. */
export interface ReadRequest<P extends PointAddress> {
  unitId: number;
  fc: FunctionCode;
  address: number;
  count: number;
  points: { point: P; offset: number }[];
}

/** Registers (FC3/4) or bits (FC1/2) a point occupies. */
export function pointWidth(p: PointAddress): number {
  return isBitFunction(p.fc) ? 1 : registerCount(p.type);
}

function limitFor(fc: FunctionCode, opts: PlanOptions): number {
  if (isBitFunction(fc)) {
    const max = opts.maxBits ?? MAX_READ_BITS;
    if (!Number.isInteger(max) || max < 1 || max > MAX_READ_BITS) {
      throw new RangeError(`maxBits must be an integer from 1 to ${MAX_READ_BITS}, got ${max}`);
    }
    return max;
  }
  const max = opts.maxRegisters ?? MAX_READ_REGISTERS;
  // 4: a float64 must always fit in one read.
  if (!Number.isInteger(max) || max < 4 || max > MAX_READ_REGISTERS) {
    throw new RangeError(`maxRegisters must be an integer from 4 to ${MAX_READ_REGISTERS}, got ${max}`);
  }
  return max;
}

/**
 * Groups points by unit and function code, sorts them by address and merges neighbours into one
 * read while the read stays within the limit and the hole between them is at most `maxGap`.
 * Every point ends up in exactly one read; reads never mix units or function codes.
 */
export function planReads<P extends PointAddress>(
  points: readonly P[],
  opts: PlanOptions = {},
): ReadRequest<P>[] {
  const maxGap = opts.maxGap ?? DEFAULT_MAX_GAP;
  if (!Number.isInteger(maxGap) || maxGap < 0)
    throw new RangeError(`maxGap must be an integer ≥ 0, got ${maxGap}`);
  const groups = new Map<string, P[]>();
  for (const p of points) {
    const width = pointWidth(p);
    if (!Number.isInteger(p.address) || p.address < 0 || p.address + width > ADDRESS_SPACE) {
      throw new RangeError(`address ${p.address} (+${width}) is outside 0..65535`);
    }
    const key = `${p.unitId}/${p.fc}`;
    let group = groups.get(key);
    if (!group) {
      group = [];
      groups.set(key, group);
    }
    group.push(p);
  }
  const requests: ReadRequest<P>[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const limit = limitFor(first.fc, opts);
    const sorted = [...group].sort((a, b) => a.address - b.address || pointWidth(b) - pointWidth(a));
    let current: ReadRequest<P> | undefined;
    for (const p of sorted) {
      const end = p.address + pointWidth(p);
      if (current) {
        const currentEnd = current.address + current.count;
        const newEnd = Math.max(currentEnd, end);
        if (p.address - currentEnd <= maxGap && newEnd - current.address <= limit) {
          current.count = newEnd - current.address;
          current.points.push({ point: p, offset: p.address - current.address });
          continue;
        }
      }
      current = {
        unitId: p.unitId,
        fc: p.fc,
        address: p.address,
        count: end - p.address,
        points: [{ point: p, offset: 0 }],
      };
      requests.push(current);
    }
  }
  return requests;
}

/**
 * The raw value of one point from a read's answer: registers for FC3/4 (decoded with the point's
 * type and order), bits for FC1/2 (0 or 1).
 */
export function rawValueAt(
  answer: ArrayLike<number | boolean>,
  offset: number,
  point: PointAddress & { order?: WordOrder },
): number {
  if (isBitFunction(point.fc)) {
    const bit = answer[offset];
    if (bit === undefined) throw new RangeError(`answer has no bit at offset ${offset}`);
    return bit ? 1 : 0;
  }
  const width = registerCount(point.type);
  const words: number[] = [];
  for (let i = 0; i < width; i++) {
    const w = answer[offset + i];
    if (typeof w !== 'number') throw new RangeError(`answer has no register at offset ${offset + i}`);
    words.push(w);
  }
  return decodeRegisters(words, point.type, point.order ?? 'ABCD');
}
