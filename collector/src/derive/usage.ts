import { isPowered } from '@dayi/protocols';
import { dayBounds } from './calendar.ts';
import { normalizeObservations, type Observation, timelineOfSorted } from './timeline.ts';

/** Exact figures of one calendar day, in ms. poweredMs + offMs + unknownMs = spanMs. */
export interface DayUsage {
  date: string;
  /** Time in any state but off (standby, idle, running, fault). */
  poweredMs: number;
  runningMs: number;
  /** Time with fresh evidence of any state, off included. */
  coveredMs: number;
  /** The day's length (23, 24 or 25 h), clipped to `now` for today, 0 for a future day. */
  spanMs: number;
}

export interface UsageOptions {
  timezone: string;
  offlineAfterMs: number;
  now: number;
}

/** Per calendar day of `dates` (in `timezone`), how long the instrument was powered, running, known. */
export function usageByDay(
  observations: readonly Observation[],
  dates: readonly string[],
  opts: UsageOptions,
): DayUsage[] {
  const sorted = normalizeObservations(observations);
  return dates.map((date) => {
    const { start, end } = dayBounds(date, opts.timezone);
    const day: DayUsage = {
      date,
      poweredMs: 0,
      runningMs: 0,
      coveredMs: 0,
      spanMs: Math.max(0, Math.min(end, opts.now) - start),
    };
    for (const seg of timelineOfSorted(sorted, { start, end }, opts)) {
      const ms = seg.end - seg.start;
      if (seg.state !== 'unknown') day.coveredMs += ms;
      if (isPowered(seg.state)) day.poweredMs += ms;
      if (seg.state === 'running') day.runningMs += ms;
    }
    return day;
  });
}

/** Exact totals of several days: period figures come from ms, never from rounded days. */
export function sumUsage(days: readonly DayUsage[]): Omit<DayUsage, 'date'> {
  const total = { poweredMs: 0, runningMs: 0, coveredMs: 0, spanMs: 0 };
  for (const d of days) {
    total.poweredMs += d.poweredMs;
    total.runningMs += d.runningMs;
    total.coveredMs += d.coveredMs;
    total.spanMs += d.spanMs;
  }
  return total;
}

export const HOUR_MS = 3_600_000;

/** Hours rounded to 0.01, as the API answers them (SPEC). */
export function toHours(ms: number): number {
  return Math.round(ms / 36_000) / 100;
}

/** coveredMs / spanMs as a fraction 0..1 rounded to 4 decimals; 0 when the span is empty. */
export function coverageOf(coveredMs: number, spanMs: number): number {
  if (spanMs <= 0) return 0;
  return Math.round((coveredMs / spanMs) * 10_000) / 10_000;
}
