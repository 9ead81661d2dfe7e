import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineFramer, MAX_LINE_LENGTH, splitLines } from '../src/serial/index.ts';

/** Independent reference: split the whole text on CRLF, CR or LF, drop empty lines. */
function reference(text: string, max = MAX_LINE_LENGTH): string[] {
  return text.split(/\r\n|\r|\n/).filter((l) => l.length > 0 && new TextEncoder().encode(l).length <= max);
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, inside the array). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

function feed(f: LineFramer, chunks: Uint8Array[]): string[] {
  const lines: string[] = [];
  for (const c of chunks) lines.push(...f.push(c));
  lines.push(...f.flush());
  return lines;
}

const sensorText = fc
  .array(
    fc.oneof(
      fc.constantFrom('\r', '\n', '\r\n', 'I=', 'P=', ' ', '.', ';', 'µ', '温度', '\u0000'),
      fc.stringMatching(/^[0-9]{1,6}$/),
      fc.string({ maxLength: 12 }),
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(''));

describe('serial line framing', () => {
  it('ends lines at CR, LF and CRLF, and skips empty lines', () => {
    expect(splitLines('a\rb\nc\r\nd\n\n\r\re')).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('keeps a partial line until its end arrives', () => {
    const f = new LineFramer();
    expect(f.push('I=1.')).toEqual([]);
    expect(f.push('25\r')).toEqual(['I=1.25']);
    // The LF of a CRLF split across reads ends nothing more.
    expect(f.push('\nI=2')).toEqual([]);
    expect(f.push('\r\n')).toEqual(['I=2']);
    expect(f.stats()).toEqual({ lines: 2, overlong: 0 });
  });

  it('decodes a multi-byte character split across reads', () => {
    const bytes = new TextEncoder().encode('温度=21.5\n');
    const f = new LineFramer();
    expect(f.push(bytes.subarray(0, 2))).toEqual([]);
    expect(f.push(bytes.subarray(2))).toEqual(['温度=21.5']);
  });

  it('drops an over-long line whole, counts it, and goes on with the next', () => {
    const f = new LineFramer({ maxLineLength: 8 });
    expect(f.push('12345')).toEqual([]);
    expect(f.push('6789abc')).toEqual([]);
    expect(f.push('def\nok\n')).toEqual(['ok']);
    expect(f.stats()).toEqual({ lines: 1, overlong: 1 });
    // Exactly at the limit is kept.
    expect(f.push('12345678\n')).toEqual(['12345678']);
  });

  it('bounds its buffer with the default limit', () => {
    const f = new LineFramer();
    const noise = new Uint8Array(MAX_LINE_LENGTH * 3).fill(0x41);
    expect(f.push(noise)).toEqual([]);
    expect(f.push('\nI=1\n')).toEqual(['I=1']);
    expect(f.stats().overlong).toBe(1);
  });

  it('rejects a nonsensical limit', () => {
    expect(() => new LineFramer({ maxLineLength: 0 })).toThrow(/maxLineLength/);
  });

  it('gives the same lines for any chunking of the same stream (property)', () => {
    fc.assert(
      fc.property(sensorText, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        const bytes = new TextEncoder().encode(text);
        const lines = feed(new LineFramer(), chunk(bytes, cuts));
        expect(lines).toEqual(reference(text));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same lines and counts for any chunking with a small limit (property)', () => {
    fc.assert(
      fc.property(sensorText, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        const bytes = new TextEncoder().encode(text);
        const whole = new LineFramer({ maxLineLength: 6 });
        const wholeLines = feed(whole, [bytes]);
        const pieces = new LineFramer({ maxLineLength: 6 });
        expect(feed(pieces, chunk(bytes, cuts))).toEqual(wholeLines);
        expect(pieces.stats()).toEqual(whole.stats());
        expect(wholeLines).toEqual(reference(text, 6));
      }),
      { numRuns: 500 },
    );
  });
});
