import pino from 'pino';
import { diskProfiles } from '../../src/inputs/profiles-load.ts';
import type { InputDeps, InputSink, Reading } from '../../src/inputs/types.ts';

/** An InputSink that records readings and errors, with bounded waits that say what was missing. */
export class ModbusSink implements InputSink {
  readonly readings: Reading[] = [];
  readonly errors: { message: string; context: Record<string, unknown> }[] = [];

  reading(r: Reading): void {
    this.readings.push(r);
  }

  error(err: Error, context: Record<string, unknown>): void {
    this.errors.push({ message: err.message, context });
  }

  get last(): Reading | undefined {
    return this.readings.at(-1);
  }

  async waitFor(what: string, cond: (s: ModbusSink) => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!cond(this)) {
      if (Date.now() > until) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; last readings: ${JSON.stringify(this.readings.slice(-3))}, errors: ${JSON.stringify(this.errors.slice(-3))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for a reading newer than now whose metric satisfies `cond`. */
  async waitForMetric(metric: string, cond: (v: number) => boolean, timeoutMs = 10_000): Promise<Reading> {
    const from = this.readings.length;
    await this.waitFor(
      `a reading of ${metric} that matches`,
      (s) => s.readings.slice(from).some((r) => r.metrics[metric] !== undefined && cond(r.metrics[metric]!)),
      timeoutMs,
    );
    return this.readings
      .slice(from)
      .find((r) => r.metrics[metric] !== undefined && cond(r.metrics[metric]!))!;
  }
}

export const PROFILES_DIR = new URL('../../../firmware-configs/', import.meta.url).pathname;

export function modbusDeps(instrumentId = 'TEST-MODBUS-1'): InputDeps {
  return { instrumentId, log: pino({ level: 'silent' }), profiles: diskProfiles(PROFILES_DIR) };
}
