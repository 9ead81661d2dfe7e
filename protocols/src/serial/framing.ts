/**
 * Line framing for ASCII serial sensors. Pure: bytes in, lines out, no I/O.
 *
 * Sensors end lines with CR, LF or CRLF (and some switch between them after a firmware update), so
 * each of the three ends a line, and a CRLF split across two reads still ends exactly one line.
 * Framing is done on bytes, not characters: CR and LF never occur inside a UTF-8 sequence, so a
 * multi-byte character split across reads is decoded whole.
 */

/**
 * Longest line kept, in bytes, without its terminator. A sensor sending a longer line is either
 * misconfigured (wrong baud rate produces noise without line ends) or not line-oriented; bounding
 * the buffer keeps such a device from growing the agent's memory.
 */
export const MAX_LINE_LENGTH = 4096;

const CR = 0x0d;
const LF = 0x0a;

export interface FramerStats {
  /** Lines emitted. */
  lines: number;
  /** Lines longer than the limit, discarded whole. */
  overlong: number;
}

export interface FramerOptions {
  /** Defaults to MAX_LINE_LENGTH. */
  maxLineLength?: number;
}

/**
 * Splits a byte stream into lines. `push()` returns the lines completed by a chunk; a partial line
 * stays buffered until its end arrives. Empty lines (a blank line, or CR CR) are skipped: they carry
 * no reading. An over-long line is dropped whole, up to its terminator, and counted once.
 */
export class LineFramer {
  readonly maxLineLength: number;
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  /** Inside an over-long line: drop bytes until the next terminator. */
  private discarding = false;
  /** The previous byte was CR, so an LF right after it ends nothing new. */
  private afterCR = false;
  private readonly decoder = new TextDecoder('utf-8');
  private readonly counts: FramerStats = { lines: 0, overlong: 0 };

  constructor(opts: FramerOptions = {}) {
    const max = opts.maxLineLength ?? MAX_LINE_LENGTH;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxLineLength must be a positive integer, got ${max}`);
    this.maxLineLength = max;
  }

  stats(): FramerStats {
    return { ...this.counts };
  }

  push(chunk: Uint8Array | string): string[] {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b !== CR && b !== LF) continue;
      if (b === LF && this.afterCR && i === start && this.pendingLength === 0 && !this.discarding) {
        // The LF of a CRLF: the CR already ended the line.
        this.afterCR = false;
        start = i + 1;
        continue;
      }
      this.take(bytes.subarray(start, i));
      this.endLine(lines);
      this.afterCR = b === CR;
      start = i + 1;
    }
    if (start < bytes.length) {
      this.take(bytes.subarray(start));
      this.afterCR = false;
    }
    return lines;
  }

  /** Returns the buffered partial line, if any (when the stream ends), and resets. */
  flush(): string[] {
    const lines: string[] = [];
    if (this.pendingLength > 0 || this.discarding) this.endLine(lines);
    this.afterCR = false;
    return lines;
  }

  private take(part: Uint8Array): void {
    if (part.length === 0) return;
    // Any byte between a CR and an LF means the LF ends its own (possibly empty) line.
    this.afterCR = false;
    if (this.discarding) return;
    if (this.pendingLength + part.length > this.maxLineLength) {
      this.discarding = true;
      this.pending = [];
      this.pendingLength = 0;
      return;
    }
    // Copy: the caller may reuse its buffer for the next read.
    this.pending.push(part.slice());
    this.pendingLength += part.length;
  }

  private endLine(out: string[]): void {
    if (this.discarding) {
      this.counts.overlong++;
      this.discarding = false;
      return;
    }
    if (this.pendingLength === 0) return;
    const whole = this.pending.length === 1 ? this.pending[0]! : concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    this.counts.lines++;
    out.push(this.decoder.decode(whole));
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reference split of a whole stream, for tests and one-shot use: the same lines `LineFramer` emits. */
export function splitLines(bytes: Uint8Array | string, opts: FramerOptions = {}): string[] {
  const f = new LineFramer(opts);
  return [...f.push(bytes), ...f.flush()];
}
