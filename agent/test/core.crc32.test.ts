/** The agent's CRC-32 gives zlib's numbers, so outbox files written before it still check. */
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/crc32.ts';

describe('crc32', () => {
  it('equals zlib.crc32 on strings (as UTF-8) and bytes', () => {
    expect(crc32('')).toBe(0);
    expect(crc32('123456789')).toBe(0xcbf43926);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => crc32(s) === zlibCrc32(s)),
      { numRuns: 500 },
    );
    // Any UTF-16 code units, lone surrogates included (UTF-8 has no encoding for them: U+FFFD).
    const units = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 });
    fc.assert(
      fc.property(units, (us) => {
        const s = String.fromCharCode(...us);
        return crc32(s) === zlibCrc32(s);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => crc32(b) === zlibCrc32(b)),
      { numRuns: 500 },
    );
  });
});
