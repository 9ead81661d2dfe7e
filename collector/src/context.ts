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
  /** Set by ingest while the store refuses writes (disk full, I/O error), cleared by the next commit: `/healthz`. */
  storeFailure?: StoreFailure | null;
}

export interface StoreFailure {
  /** What failed, for operators: e.g. `disk full (SQLITE_FULL): database or disk is full`. */
  reason: string;
  /** When it started (ms since the epoch). */
  since: number;
  /** Messages refused (not acknowledged) since then. */
  refused: number;
}
