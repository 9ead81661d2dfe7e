/**
 * The shell around the pure usage core: turns dirty (instrument, day) marks left by ingest into
 * `daily_usage` rows, and computes days on demand that are not final yet.
 *
 * A stored day is final once it was computed at or after dayEnd + offlineAfter: from then on no
 * passing of time changes it (the last observation before dayEnd has gone stale), only new
 * messages, and those mark it dirty again.
 */
import type { CollectorContext } from '../context.ts';
import { addDays, dayBounds } from './calendar.ts';
import { inTransaction, loadObservations, writeDailyUsage } from './store.ts';
import { type DayUsage, usageByDay } from './usage.ts';

export interface RecomputeOptions {
  /** Only this instrument's dirty days. */
  instrumentId?: string;
  /** Only dirty days up to this date (YYYY-MM-DD, included). */
  upTo?: string;
}

/**
 * Recomputes every dirty (instrument, day), upserts `daily_usage` (computed_at = now) and clears
 * the marks, all in one transaction. Returns how many days were recomputed.
 */
export function recomputeDirty(ctx: CollectorContext, opts: RecomputeOptions = {}): number {
  const { db } = ctx;
  return inTransaction(db, () => {
    const rows = db
      .prepare(
        `SELECT instrument_id, date FROM dirty_days
         WHERE (?1 IS NULL OR instrument_id = ?1) AND (?2 IS NULL OR date <= ?2)
         ORDER BY instrument_id, date`,
      )
      .all(opts.instrumentId ?? null, opts.upTo ?? null) as { instrument_id: string; date: string }[];
    if (rows.length === 0) return 0;
    const byInstrument = new Map<string, string[]>();
    for (const r of rows) {
      const dates = byInstrument.get(r.instrument_id) ?? [];
      dates.push(r.date);
      byInstrument.set(r.instrument_id, dates);
    }
    const now = ctx.now();
    const clear = db.prepare('DELETE FROM dirty_days WHERE instrument_id = ? AND date = ?');
    for (const [instrumentId, dates] of byInstrument) {
      writeDailyUsage(db, instrumentId, computeDays(ctx, instrumentId, dates, now), now);
      for (const date of dates) clear.run(instrumentId, date);
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
): DayUsage[] {
  const { timezone, offlineAfter } = ctx.config;
  const out: DayUsage[] = [];
  for (const run of consecutiveRuns(dates)) {
    const start = dayBounds(run[0]!, timezone).start;
    const end = dayBounds(run[run.length - 1]!, timezone).end;
    const observations = loadObservations(ctx.db, instrumentId, start, end, offlineAfter);
    out.push(...usageByDay(observations, run, { timezone, offlineAfterMs: offlineAfter, now }));
  }
  return out;
}

/** Whether a day stored at `computedAt` can no longer change with time alone. */
export function isFinal(date: string, computedAt: number, ctx: CollectorContext): boolean {
  return computedAt >= dayBounds(date, ctx.config.timezone).end + ctx.config.offlineAfter;
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
