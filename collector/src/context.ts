import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CollectorConfig } from './config.ts';
import type { Exports } from './exports.ts';
import type { Metrics } from './metrics.ts';

/** What every collector plugin is given: built once by `build()`, closed with the app. */
export interface CollectorContext {
  config: CollectorConfig;
  db: DatabaseSync;
  metrics: Metrics;
  log: Logger;
  /** Wall clock, injectable so tests and replays can fix "now". */
  now: () => number;
  /** The series store and the InfluxDB shipper, once started (exports.ts). */
  exports?: Exports;
}
