import type { State } from '@dayi/protocols';

/** The anomaly types of issue 10 (kind `anomaly`); `offline` and `idle` are kinds of their own. */
export const ANOMALY_TYPES = [
  'power_out_of_band',
  'level_shift',
  'short_cycling',
  'long_run',
  'out_of_hours',
  'vendor_fault',
  'sensor_stuck',
  'clock_skew',
  'data_gap',
] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];

/** Everything a detector can find: the anomaly types, plus `offline` and `idle`. */
export type FindingType = AnomalyType | 'offline' | 'idle';

export type Severity = 'info' | 'warning' | 'critical';

/**
 * One episode of one condition. Detectors report an episode when it begins (`end` null) and again
 * when it ends, with the same `start`; reporting the same episode twice changes nothing, which is
 * what makes replays, restarts and re-runs safe.
 */
export interface Finding {
  type: FindingType;
  /** When the condition began: event time, except `offline` and `clock_skew` (collector arrival time). */
  start: number;
  /** When it ended; null while it lasts. A point finding (one message) has `end === start`. */
  end: number | null;
  /**
   * True for a point no later evidence can clear (a `data_gap`, a `vendor_fault` event): its alert
   * stays until a person resolves it, unless a later episode of the same alert ends by evidence.
   */
  sticky: boolean;
  severity: Severity;
  /** What was seen; keys ending in `At` hold times (ms), which the API shows as ISO 8601. */
  detail: Record<string, unknown>;
}

/** The states a power band is kept for (off has no band; a fault is its own anomaly). */
export const BAND_STATES = ['standby', 'idle', 'running'] as const;
export type BandState = (typeof BAND_STATES)[number];

export type Band = readonly [number, number];

/** Per-instrument anomaly settings after defaults are applied (`settings.ts`). */
export interface AnomalySettings {
  /** Configured bands by state; a state without one uses the learned band. */
  powerBand: Partial<Record<BandState, Band>>;
  longRunHours: number;
  shortCycle: { maxChangesPerHour: number };
  /** The text as configured ("Mon-Fri 08:00-18:00"), or null: no service hours, out_of_hours is off. */
  serviceHours: string | null;
  staleSamples: number;
  /** Anomaly types switched off for this instrument. */
  disabled: readonly AnomalyType[];
}

/** What the event-time detectors need besides the data. */
export interface DetectSettings extends AnomalySettings {
  /** How long one observation stays fresh evidence (config `offlineAfter`), ms. */
  offlineAfterMs: number;
  /** IANA zone of calendar days and service hours. */
  timezone: string;
  /** The metric bands, stuck readings and level shifts are judged on (the registry's thresholds.signal). */
  signal: string;
}

/**
 * One observation as the event-time detectors see it: a state (from a state message, telemetry
 * with state, or telemetry classified with the registry thresholds) and, for telemetry, the value
 * of the signal. `id` is the ledger id: it orders observations with the same `ts` (the last wins).
 */
export interface Sample {
  ts: number;
  id: number;
  state: State;
  value: number | null;
}

/** A stretch of one state between observations (derive/pure/timeline.ts's rule), [start, end). */
export interface Segment {
  start: number;
  end: number;
  state: State;
}

/** An interval [start, end) in ms. */
export interface Interval {
  start: number;
  end: number;
}

export type Emit = (finding: Finding) => void;

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
