import { datesBetween, dayBounds } from '../../derive/pure/calendar.ts';

/** One calendar day of a report period, with what `/usage` needs to treat it the same way. */
export interface PeriodDay {
  date: string;
  start: number;
  end: number;
  /** The day's length clipped to `now`: what `/usage` counts as its span (0 for a future day). */
  spanMs: number;
  /** A stored day computed at or after this instant is final (derive/io/recompute.ts `isFinal`). */
  finalAt: number;
}

/** A report period: `from`..`to` (both included) in the collector's time zone, seen at `now`. */
export interface ReportPeriod {
  from: string;
  to: string;
  timezone: string;
  now: number;
  days: PeriodDay[];
  /** Days that have begun at `now`: the only ones `/usage` can count hours in. */
  pastDays: PeriodDay[];
  /** Sum of the days' spans: the elapsed part of the period. */
  spanMs: number;
  /** Instant the figures run to: the end of `to`, or `now` for a period not over yet. */
  endsAt: number;
  /**
   * The share of a year that the elapsed part of the period is: each day counts 1/365 (1/366 in a
   * leap year) times the part of it elapsed. Quota hours are yearly; quota × this = prorated quota.
   */
  yearShare: number;
}

export function reportPeriod(
  from: string,
  to: string,
  opts: { timezone: string; offlineAfterMs: number; now: number },
): ReportPeriod {
  const { timezone, offlineAfterMs, now } = opts;
  const days = datesBetween(from, to).map((date): PeriodDay => {
    const { start, end } = dayBounds(date, timezone);
    return {
      date,
      start,
      end,
      spanMs: Math.max(0, Math.min(end, now) - start),
      finalAt: end + offlineAfterMs,
    };
  });
  // Whole elapsed days per year are counted exactly, so a whole calendar year is exactly 1.
  const wholeDays = new Map<number, number>();
  let partial = 0;
  let spanMs = 0;
  for (const d of days) {
    spanMs += d.spanMs;
    const year = Number(d.date.slice(0, 4));
    if (d.spanMs === d.end - d.start) wholeDays.set(year, (wholeDays.get(year) ?? 0) + 1);
    else if (d.spanMs > 0) partial += d.spanMs / (d.end - d.start) / daysInYear(year);
  }
  let yearShare = partial;
  for (const [year, n] of wholeDays) yearShare += n / daysInYear(year);
  const last = days[days.length - 1];
  return {
    from,
    to,
    timezone,
    now,
    days,
    pastDays: days.filter((d) => d.start < now),
    spanMs,
    endsAt: last ? Math.min(last.end, now) : now,
    yearShare,
  };
}

export function daysInYear(year: number): number {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
}
