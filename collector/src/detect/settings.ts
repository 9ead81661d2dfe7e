import {
  type AnomalySettings,
  type AnomalyType,
  type Band,
  type BandState,
  DAY_MS,
  type DetectSettings,
  MINUTE_MS,
} from './types.ts';

/**
 * The `anomaly:` block as configured: per instrument in the registry, and fleet-wide under
 * `alerts.anomaly` in the collector config. Every key is optional; the instrument's value wins over
 * the fleet's, which wins over the defaults below (powerBand per state).
 */
export interface AnomalyConfig {
  powerBand?: Partial<Record<BandState, Band>>;
  longRunHours?: number;
  shortCycle?: { maxChangesPerHour: number };
  serviceHours?: string;
  staleSamples?: number;
  disabled?: readonly AnomalyType[];
}

export const ANOMALY_DEFAULTS: AnomalySettings = {
  powerBand: {},
  longRunHours: 48,
  shortCycle: { maxChangesPerHour: 12 },
  serviceHours: null,
  staleSamples: 60,
  disabled: [],
};

/** power_out_of_band: how long the signal must stay outside its band. */
export const OUT_OF_BAND_MIN_MS = 5 * MINUTE_MS;
/** Learned bands: the days of history, and the fewest samples of a state worth learning from. */
export const BAND_LEARN_DAYS = 14;
export const BAND_MIN_SAMPLES = 200;
/** Learned band: median ± max(BAND_WIDTH_SIGMAS × σ, BAND_MIN_HALF_WIDTH × median); σ = 1.4826 × MAD. */
export const BAND_WIDTH_SIGMAS = 6;
export const BAND_MIN_HALF_WIDTH = 0.1;
/** level_shift (CUSUM on the running signal in units of σ, per minute): slack k and decision h. */
export const SHIFT_SLACK_SIGMAS = 1;
export const SHIFT_DECISION = 120;
/** level_shift: one reading counts at most this many σ (a robust CUSUM; bursts are out-of-band's). */
export const SHIFT_Z_CLIP = 4;
/** σ of level_shift is at least this share of the median, so a very steady meter is not over-sensitive. */
export const SHIFT_MIN_SIGMA = 0.02;
/** short_cycling: the sliding window state changes are counted in. */
export const SHORT_CYCLE_WINDOW_MS = 60 * MINUTE_MS;
/** out_of_hours: running outside service hours, unbooked, for at least this long. */
export const OUT_OF_HOURS_MIN_MS = 10 * MINUTE_MS;
/** clock_skew: live data whose ts is further than this from its arrival. */
export const CLOCK_SKEW_MAX_MS = 2 * MINUTE_MS;
/** sensor_stuck, impossible values: current above this at a voltage below IMPOSSIBLE_MAX_VOLTAGE. */
export const IMPOSSIBLE_MIN_CURRENT_A = 0.1;
export const IMPOSSIBLE_MAX_VOLTAGE_V = 1;
export { DAY_MS };

/** Fleet defaults, then the instrument's own values, over the built-in defaults. */
export function resolveAnomaly(
  instrument: AnomalyConfig | null | undefined,
  fleet: AnomalyConfig | null | undefined,
): AnomalySettings {
  const pick = <K extends keyof AnomalyConfig>(k: K) => instrument?.[k] ?? fleet?.[k];
  return {
    powerBand: { ...fleet?.powerBand, ...instrument?.powerBand },
    longRunHours: pick('longRunHours') ?? ANOMALY_DEFAULTS.longRunHours,
    shortCycle: pick('shortCycle') ?? ANOMALY_DEFAULTS.shortCycle,
    serviceHours: pick('serviceHours') ?? ANOMALY_DEFAULTS.serviceHours,
    staleSamples: pick('staleSamples') ?? ANOMALY_DEFAULTS.staleSamples,
    disabled: pick('disabled') ?? ANOMALY_DEFAULTS.disabled,
  };
}

export function detectSettings(
  anomaly: AnomalySettings,
  base: { offlineAfterMs: number; timezone: string; signal?: string | undefined },
): DetectSettings {
  return {
    ...anomaly,
    offlineAfterMs: base.offlineAfterMs,
    timezone: base.timezone,
    signal: base.signal ?? 'power_w',
  };
}

export function isEnabled(settings: AnomalySettings, type: AnomalyType): boolean {
  return !settings.disabled.includes(type);
}
