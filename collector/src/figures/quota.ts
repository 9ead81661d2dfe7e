/**
 * Quota hours (定额机时) and the purchase-review bar, prorated to a period. Pure: the caller passes
 * each day's bounds from the calendar.
 */

/** 1200 h a year: at this the purchase review (购置查重评议) treats existing units as fully used. */
export const PURCHASE_REVIEW_HOURS = 1200;

export const HOUR_MS = 3_600_000;

export function daysInYear(year: number): number {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
}

/** One calendar day of a period: its full length, and the part of it that has passed (`spanMs`). */
export interface DaySpan {
  date: string;
  lengthMs: number;
  spanMs: number;
}

/**
 * The yearly quota prorated to the elapsed part of a period, in ms: each day carries
 * quota / (days of its year), scaled by the share of the day that has passed. A whole calendar year
 * gives exactly the quota; a future day gives nothing.
 */
export function proratedQuotaMs(quotaHours: number, days: readonly DaySpan[]): number {
  let sum = 0;
  for (const d of days) {
    if (d.lengthMs <= 0 || d.spanMs <= 0) continue;
    const perDayMs = (quotaHours * HOUR_MS) / daysInYear(Number(d.date.slice(0, 4)));
    sum += perDayMs * (d.spanMs / d.lengthMs);
  }
  return sum;
}

/** running / quota as a fraction rounded to 4 decimals; null when there is no quota. */
export function utilisationOf(runningMs: number, quotaMs: number): number | null {
  if (quotaMs <= 0) return null;
  return Math.round((runningMs / quotaMs) * 10_000) / 10_000;
}

/** Running hours scaled to a year: runningMs over `elapsedMs` of observation, × 365 days. */
export function annualisedHours(runningMs: number, elapsedMs: number): number | null {
  if (elapsedMs <= 0) return null;
  return Math.round((runningMs / elapsedMs) * 365 * 24 * 100) / 100;
}
