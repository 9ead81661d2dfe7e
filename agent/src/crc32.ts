/**
 * CRC-32 (IEEE 802.3, the one zlib, gzip and PNG use): the same numbers as `zlib.crc32`, without
 * loading Node's zlib module (0.5 MiB of the agent's resident memory) for a few short outbox lines.
 */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * CRC-32 of `data`; a string is taken as its UTF-8 bytes (a lone surrogate as U+FFFD), as zlib.crc32
 * takes it. Strings are encoded on the fly: a Buffer per outbox line would churn the allocator,
 * which measurably left the agent's C heap 1.6 MiB larger.
 */
export function crc32(data: string | Uint8Array): number {
  let c = -1;
  const add = (byte: number) => {
    c = TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  };
  if (typeof data !== 'string') {
    for (let i = 0; i < data.length; i++) add(data[i]!);
    return (c ^ -1) >>> 0;
  }
  for (let i = 0; i < data.length; i++) {
    let u = data.charCodeAt(i);
    if (u < 0x80) {
      add(u);
      continue;
    }
    if (u >= 0xd800 && u <= 0xdfff) {
      const next = data.charCodeAt(i + 1);
      if (u <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        u = 0x10000 + ((u - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else u = 0xfffd;
    }
    if (u < 0x800) {
      add(0xc0 | (u >> 6));
    } else if (u < 0x10000) {
      add(0xe0 | (u >> 12));
      add(0x80 | ((u >> 6) & 0x3f));
    } else {
      add(0xf0 | (u >> 18));
      add(0x80 | ((u >> 12) & 0x3f));
      add(0x80 | ((u >> 6) & 0x3f));
    }
    add(0x80 | (u & 0x3f));
  }
  return (c ^ -1) >>> 0;
}
