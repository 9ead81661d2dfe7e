/**
 * The shell around the pure usage core: turns dirty (instrument, day) marks left by ingest into
 * `daily_usage` rows, and computes days on demand that are not final yet.
 *
 * A stored day is final once it was computed at or after dayEnd + offlineAfter: from then on no
 * passing of time changes it (the last observation before dayEnd has gone stale), only new
 * messages, and those mark it dirty again. A day that is not final yet (today, or yesterday for
 * offlineAfter past midnight) is computed at query time instead, so `recomputeDirty` leaves its
 * mark in place by default and stores it once it is final: a fleet reporting every few seconds
 * then costs the background job nothing until midnight.
 */
import type { CollectorContext } from '../../context.ts';
import { addDays, dateOf, dayBounds } from '../pure/calendar.ts';
import { type DayTail, type DayUsage, dailyFigures } from '../pure/usage.ts';
import { inTransaction, loadObservations, stmt, writeDailyUsage } from './store.ts';

let marksCleared = 0;

/**
 * Counts every removal of dirty marks (recompute, rederive). Ingest remembers which days it marked
 * recently and skips re-marking them, but only while this count is unchanged: a mark cleared in
 * between must be written again.
 */
export function dirtyMarksCleared(): number {
  return marksCleared;
}

export function noteDirtyMarksCleared(): void {
  marksCleared++;
}

export interface RecomputeOptions {
  /** Only this instrument's dirty days. */
  instrumentId?: string;
  /** Only dirty days up to this date (YYYY-MM-DD, included). */
  upTo?: string;
  /** Also store days that are not final yet (they will be recomputed at query time anyway). */
  includePending?: boolean;
  /**
   * Leave alone days marked within this many ms: a backfill still writing to a day would make
   * the background job re-read the whole day at every pass. Queries do not pass it: they
   * recompute what they read.
   */
  quietMs?: number;
}

/**
 * Recomputes every dirty (instrument, day) that is final, upserts `daily_usage` (computed_at =
 * now) and clears those marks, all in one transaction. Returns how many days were recomputed.
 */
export function recomputeDirty(ctx: CollectorContext, opts: RecomputeOptions = {}): number {
  const { db } = ctx;
  const now = ctx.now();
  let upTo = opts.upTo ?? null;
  if (!opts.includePending) {
    const lastFinal = lastFinalDate(ctx, now);
    if (upTo === null || lastFinal < upTo) upTo = lastFinal;
  }
  const filter =
    'WHERE (?1 IS NULL OR instrument_id = ?1) AND (?2 IS NULL OR date <= ?2) AND (?3 IS NULL OR marked_at <= ?3)';
  const args = [
    opts.instrumentId ?? null,
    upTo,
    opts.quietMs === undefined ? null : now - opts.quietMs,
  ] as const;
  // Most calls find nothing to do: do not take the write lock for that.
  if (stmt(db, `SELECT 1 FROM dirty_days ${filter} LIMIT 1`).get(...args) === undefined) return 0;
  return inTransaction(db, () => {
    const rows = stmt(
      db,
      `SELECT instrument_id, date FROM dirty_days ${filter} ORDER BY instrument_id, date`,
    ).all(...args) as { instrument_id: string; date: string }[];
    if (rows.length === 0) return 0;
    const byInstrument = new Map<string, string[]>();
    for (const r of rows) {
      const dates = byInstrument.get(r.instrument_id) ?? [];
      dates.push(r.date);
      byInstrument.set(r.instrument_id, dates);
    }
    const clear = stmt(db, 'DELETE FROM dirty_days WHERE instrument_id = ? AND date = ?');
    for (const [instrumentId, dates] of byInstrument) {
      writeDailyUsage(db, instrumentId, computeDays(ctx, instrumentId, dates, now), now);
      for (const date of dates) clear.run(instrumentId, date);
      marksCleared++;
    }
    return rows.length;
  });
}

/**
 * Usage of `dates` (sorted ascending) from the stored observations, computed now and not stored.
 * Consecutive dates share one read of the observations.
 */
export function computeDays(
  ctx: CollectorContext,
  instrumentId: string,
  dates: readonly string[],
  now = ctx.now(),
): (DayUsage & { tail: DayTail | null })[] {
  const { timezone, offlineAfter } = ctx.config;
  const out: (DayUsage & { tail: DayTail | null })[] = [];
  for (const run of consecutiveRuns(dates)) {
    const start = dayBounds(run[0]!, timezone).start;
    const end = dayBounds(run[run.length - 1]!, timezone).end;
    const observations = loadObservations(ctx.db, instrumentId, start, end, offlineAfter);
    out.push(...dailyFigures(observations, run, { timezone, offlineAfterMs: offlineAfter, now }));
  }
  return out;
}

/** Whether a day stored at `computedAt` can no longer change with time alone. */
export function isFinal(date: string, computedAt: number, ctx: CollectorContext): boolean {
  return computedAt >= dayBounds(date, ctx.config.timezone).end + ctx.config.offlineAfter;
}

/** The latest date that is final at `now`: its end lies at least offlineAfter in the past. */
export function lastFinalDate(ctx: CollectorContext, now = ctx.now()): string {
  return addDays(dateOf(now - ctx.config.offlineAfter, ctx.config.timezone), -1);
}

function consecutiveRuns(dates: readonly string[]): string[][] {
  const runs: string[][] = [];
  for (const date of dates) {
    const run = runs[runs.length - 1];
    const last = run?.[run.length - 1];
    if (run && last !== undefined && addDays(last, 1) === date) run.push(date);
    else runs.push([date]);
  }
  return runs;
}
