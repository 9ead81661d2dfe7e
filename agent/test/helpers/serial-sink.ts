import type { InputSink, Reading } from '../../src/inputs/types.ts';

/** An InputSink that records what an input emitted, with a bounded wait for the test to use. */
export class RecordingSink implements InputSink {
  readonly readings: Reading[] = [];
  readonly errors: { message: string; context: Record<string, unknown> }[] = [];

  reading(r: Reading): void {
    this.readings.push(r);
  }

  error(err: Error, context: Record<string, unknown>): void {
    this.errors.push({ message: err.message, context });
  }

  async waitFor(what: string, cond: (s: RecordingSink) => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!cond(this)) {
      if (Date.now() > until) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; readings: ${JSON.stringify(this.readings.slice(-5))}, errors: ${JSON.stringify(this.errors.slice(-5))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
