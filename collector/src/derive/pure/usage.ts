import { type DerivedState, isPowered } from '@dayi/protocols';
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
  return dailyFigures(observations, dates, opts).map(({ tail: _tail, ...day }) => day);
}

/** The day's last run, when it reaches the day's end: lets a run be followed across days. */
export interface DayTail {
  state: DerivedState;
  start: number;
}

/** `usageByDay` plus each day's tail run (null when the day's timeline stops before its end). */
export function dailyFigures(
  observations: readonly Observation[],
  dates: readonly string[],
  opts: UsageOptions,
): (DayUsage & { tail: DayTail | null })[] {
  const sorted = normalizeObservations(observations);
  return dates.map((date) => {
    const { start, end } = dayBounds(date, opts.timezone);
    const day = {
      date,
      poweredMs: 0,
      runningMs: 0,
      coveredMs: 0,
      spanMs: Math.max(0, Math.min(end, opts.now) - start),
      tail: null as DayTail | null,
    };
    const segments = timelineOfSorted(sorted, { start, end }, opts);
    for (const seg of segments) {
      const ms = seg.end - seg.start;
      if (seg.state !== 'unknown') day.coveredMs += ms;
      if (isPowered(seg.state)) day.poweredMs += ms;
      if (seg.state === 'running') day.runningMs += ms;
    }
    const last = segments[segments.length - 1];
    if (last && last.end === end) day.tail = { state: last.state, start: last.start };
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
