import type { InputSink, Reading } from '../../src/inputs/types.ts';

export interface RecordedError {
  err: Error;
  context: Record<string, unknown>;
}

/** An InputSink that records everything and lets a test wait, boundedly, for what it expects. */
export class RecordingSink implements InputSink {
  readings: Reading[] = [];
  errors: RecordedError[] = [];

  reading(reading: Reading): void {
    this.readings.push(reading);
  }

  error(err: Error, context: Record<string, unknown>): void {
    this.errors.push({ err, context });
  }

  /** Readings that carry `metric`, as values. */
  values(metric: string): number[] {
    return this.readings.flatMap((r) => (metric in r.metrics ? [r.metrics[metric]!] : []));
  }

  states(): string[] {
    return this.readings.flatMap((r) => (r.state ? [r.state] : []));
  }

  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = probe();
      if (got !== undefined && got !== false) return got;
      if (Date.now() > deadline) {
        const last = this.readings.slice(-5).map((r) => JSON.stringify(r));
        const errs = this.errors.slice(-5).map((e) => `${e.err.message} ${JSON.stringify(e.context)}`);
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}\n last readings: ${last.join('\n  ')}\n last errors: ${errs.join('\n  ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Waits until `probe` holds, polling; fails with `what`. */
export async function eventually(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
