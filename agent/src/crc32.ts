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

/** CRC-32 of `data` (a string is taken as its UTF-8 bytes, as zlib.crc32 does). */
export function crc32(data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
