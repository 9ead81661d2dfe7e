/**
 * The store contract of the time-series read route (`GET /v1/instruments/{id}/series`): one
 * interface, two implementations (SQLite, InfluxDB), one exported test suite that both pass
 * (collector/test/contract/series-store.ts).
 */

/** Most buckets one query may ask for. */
export const MAX_SERIES_BUCKETS = 10_000;
/** Smallest bucket. */
export const MIN_SERIES_EVERY_MS = 1000;

export interface SeriesQuery {
  instrumentId: string;
  /** A telemetry metric name (snake_case). */
  metric: string;
  /** ms since the epoch, included. */
  from: number;
  /** ms since the epoch, excluded. */
  to: number;
  /** Bucket width, ms; buckets are aligned to multiples of it since the epoch (UTC). */
  everyMs: number;
}

/** One bucket with at least one sample: mean, min, max and count of the metric's samples. */
export interface SeriesBucket {
  /** The bucket's start, ms. */
  t: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export interface SeriesStore {
  readonly kind: 'sqlite' | 'influx';
  /** Buckets in time order; buckets without samples are left out. */
  series(q: SeriesQuery): Promise<SeriesBucket[]>;
}

/** The error a store throws when it cannot answer (InfluxDB down): the route answers 503. */
export class SeriesUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeriesUnavailableError';
  }
}
