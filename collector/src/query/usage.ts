import type { CollectorContext } from '../context.ts';
import { computeDays, isFinal, recomputeDirty } from '../derive/io/recompute.ts';
import { readDailyUsage } from '../derive/io/store.ts';
import { datesBetween, dayBounds, isDate } from '../derive/pure/calendar.ts';
import { coverageOf, type DayUsage, sumUsage, toHours } from '../derive/pure/usage.ts';
import { notInRegistry, QueryError } from './errors.ts';
import { instrumentExists } from './registry.ts';

/** Longest period one usage query may span, in days (a leap year). */
export const MAX_USAGE_DAYS = 366;

export interface UsageFigures {
  poweredHours: number;
  runningHours: number;
  /**
   * Share of the period with fresh evidence, 0..1, 4 decimals; null for a day (or period) that has
   * not begun yet: it has no evidence to miss, and 0 would read as "we know nothing".
   */
  coverage: number | null;
}

/** GET /v1/instruments/{id}/usage (SPEC). */
export interface UsageAnswer extends UsageFigures {
  id: string;
  from: string;
  to: string;
  days: (UsageFigures & { date: string })[];
}

/**
 * Usage of one instrument per calendar day from `from` to `to` (both included, YYYY-MM-DD in the
 * collector's time zone). Period totals come from exact ms, never from the rounded days.
 */
export function getUsage(ctx: CollectorContext, id: string, from: string, to: string): UsageAnswer {
  for (const [param, value] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!isDate(value)) {
      throw new QueryError(
        'bad_request',
        `${JSON.stringify(value)} is not a date: use YYYY-MM-DD, e.g. 2026-11-01`,
        param,
      );
    }
  }
  if (from > to)
    throw new QueryError('bad_request', `${from} is after to ${to}: use a from on or before to`, 'from');
  const dates = datesBetween(from, to);
  if (dates.length > MAX_USAGE_DAYS) {
    throw new QueryError(
      'bad_request',
      `the period ${from}..${to} spans ${dates.length} days: ask for at most ${MAX_USAGE_DAYS} days at a time`,
      'to',
    );
  }
  if (!instrumentExists(ctx.db, id)) throw new QueryError('not_found', notInRegistry(id), 'id');
  const days = usageOfDates(ctx, id, dates);
  return {
    id,
    from,
    to,
    ...figures(sumUsage(days)),
    days: days.map((d) => ({ date: d.date, ...figures(d) })),
  };
}

/**
 * Exact figures of one instrument for consecutive `dates` (sorted): stored days that are final,
 * the rest (today, days not final yet, days no message touched) computed now; a day that has not
 * begun has a span of 0.
 */
export function usageOfDates(ctx: CollectorContext, id: string, dates: readonly string[]): DayUsage[] {
  if (dates.length === 0) return [];
  recomputeDirty(ctx, { instrumentId: id });
  const now = ctx.now();
  const stored = readDailyUsage(ctx.db, id, dates[0]!, dates[dates.length - 1]!);
  const byDate = new Map<string, DayUsage>();
  const live: string[] = [];
  for (const date of dates) {
    const row = stored.get(date);
    if (dayBounds(date, ctx.config.timezone).start >= now) {
      byDate.set(date, { date, poweredMs: 0, runningMs: 0, coveredMs: 0, spanMs: 0 });
    } else if (row && isFinal(date, row.computedAt, ctx)) {
      byDate.set(date, row);
    } else {
      // Today, yesterday within offlineAfter, or a day no message ever touched.
      live.push(date);
    }
  }
  for (const day of computeDays(ctx, id, live, now)) byDate.set(day.date, day);
  return dates.map((date) => byDate.get(date)!);
}

/** Only a day (or period) not begun yet has an empty span: its coverage is null, not 0. */
export function coverageOrNull(coveredMs: number, spanMs: number): number | null {
  return spanMs > 0 ? coverageOf(coveredMs, spanMs) : null;
}

function figures(d: Omit<DayUsage, 'date'>): UsageFigures {
  return {
    poweredHours: toHours(d.poweredMs),
    runningHours: toHours(d.runningMs),
    coverage: coverageOrNull(d.coveredMs, d.spanMs),
  };
}
