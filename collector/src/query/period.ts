/**
 * Usage of many instruments over one period, exactly as `/v1/instruments/{id}/usage` answers it for
 * each (the same stored days, the same live computation of days that are not final), but reading a
 * few rows per instrument: stored days come from the monthly rollups of migration 7
 * (`usage_month`, `usage_month_cum`), so a year over 16,000 instruments is not 5.8 million rows.
 */

import type { CollectorContext } from '../context.ts';
import { computeDays, lastFinalDate, recomputeDirty } from '../derive/io/recompute.ts';
import { stmt } from '../derive/io/store.ts';
import { datesBetween, dayBounds, isDate } from '../derive/pure/calendar.ts';
import { QueryError } from './errors.ts';
import { MAX_USAGE_DAYS } from './usage.ts';

/** Exact figures of one instrument over a period, in ms (as `sumUsage` of its days). */
export interface PeriodTotals {
  poweredMs: number;
  runningMs: number;
  coveredMs: number;
  spanMs: number;
}

export interface PeriodDay {
  date: string;
  start: number;
  end: number;
  /** The day's length, and the part of it before now (0 for a future day). */
  lengthMs: number;
  spanMs: number;
}

export interface Period {
  from: string;
  to: string;
  /** [start of from, end of to) in ms UTC. */
  start: number;
  end: number;
  days: PeriodDay[];
  /** Sum of the days' spans: what every instrument's spanMs is. */
  spanMs: number;
}

/** Checks `from`/`to` (dates, `to` included, at most `maxDays`) and lays out the period's days. */
export function periodOf(ctx: CollectorContext, from: string, to: string, maxDays = MAX_USAGE_DAYS): Period {
  for (const [param, value] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!isDate(value)) {
      throw new QueryError(
        'bad_request',
        `${param}: ${JSON.stringify(value)} is not a date (YYYY-MM-DD)`,
        param,
      );
    }
  }
  if (from > to) throw new QueryError('bad_request', `from: ${from} is after to: ${to}`, 'from');
  const dates = datesBetween(from, to);
  if (dates.length > maxDays) {
    throw new QueryError(
      'bad_request',
      `to: the period ${from}..${to} spans ${dates.length} days, at most ${maxDays} are allowed`,
      'to',
    );
  }
  const now = ctx.now();
  const days = dates.map((date): PeriodDay => {
    const { start, end } = dayBounds(date, ctx.config.timezone);
    return { date, start, end, lengthMs: end - start, spanMs: Math.max(0, Math.min(end, now) - start) };
  });
  return {
    from,
    to,
    start: days[0]!.start,
    end: days[days.length - 1]!.end,
    days,
    spanMs: days.reduce((s, d) => s + d.spanMs, 0),
  };
}

interface SumsRow {
  id: string;
  p: number;
  r: number;
  c: number;
}

/** Up to this many instruments are summed with their own index lookups, not a pass over the fleet. */
const FEW = 200;

/** Every instrument the collector knows: the registry and those that reported. */
const IDS = 'SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status';

/**
 * Totals of `period` for every known instrument (or only `ids`), keyed by id. Stored final days
 * come from the rollups; the days that are not final yet (today, yesterday within offlineAfter of
 * midnight) are computed live from observations, only for instruments with evidence that recent.
 */
export function periodTotals(
  ctx: CollectorContext,
  period: Period,
  ids?: readonly string[],
): Map<string, PeriodTotals> {
  const { db } = ctx;
  // The same freshness as /usage: final days still marked dirty are stored before reading.
  recomputeDirty(ctx);
  const now = ctx.now();
  const idList = ids ?? (stmt(db, IDS).all() as { id: string }[]).map((r) => r.id);
  const out = new Map<string, PeriodTotals>();
  for (const id of idList) out.set(id, { poweredMs: 0, runningMs: 0, coveredMs: 0, spanMs: period.spanMs });
  if (idList.length === 0) return out;
  const add = (rows: readonly SumsRow[], sign: 1 | -1) => {
    for (const r of rows) {
      const t = out.get(r.id);
      if (!t) continue;
      t.poweredMs += sign * r.p;
      t.runningMs += sign * r.r;
      t.coveredMs += sign * r.c;
    }
  };

  const storedTo = storedUntil(ctx, period, now);
  if (period.from <= storedTo) {
    // sum(a..b) = Σ months[monthA..monthB] − cum(monthA, < a) − month(monthB) + cum(monthB, ≤ b)
    const a = period.from;
    const b = storedTo;
    const monthA = a.slice(0, 7);
    const monthB = b.slice(0, 7);
    if (ids !== undefined && ids.length <= FEW) {
      // A few instruments: their own index ranges.
      for (const id of ids) {
        const months = stmt(
          db,
          `SELECT instrument_id AS id, month, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month
             WHERE instrument_id = ? AND month >= ? AND month <= ?`,
        ).all(id, monthA, monthB) as unknown as (SumsRow & { month: string })[];
        add(months, 1);
        add(
          months.filter((m) => m.month === monthB),
          -1,
        );
        if (a.slice(8) !== '01') add(lastCum(ctx, id, previousDate(a)), -1);
        add(lastCum(ctx, id, b), 1);
      }
    } else {
      // A fleet: combined in SQLite, one row per instrument reaches JavaScript.
      const sql = fleetTotalsCte(period, storedTo);
      add(stmt(db, `WITH ${sql.cte} SELECT id, p, r, c FROM t`).all(...sql.args) as unknown as SumsRow[], 1);
    }
  }

  for (const [id, live] of liveTotals(ctx, period, storedTo, now)) {
    const t = out.get(id);
    if (!t) continue;
    t.poweredMs += live.p;
    t.runningMs += live.r;
    t.coveredMs += live.c;
  }
  return out;
}

/** The last date whose stored figures are final at `now`, capped by the period's end. */
export function storedUntil(ctx: CollectorContext, period: Period, now = ctx.now()): string {
  return [period.to, lastFinalDate(ctx, now)].sort()[0]!;
}

/**
 * The CTEs ending in `t(id, p, r, c)`: every instrument with stored days in the period and its exact
 * sums over [from, storedTo] from the rollups: sum(a..b) = Σ months[monthA..monthB) + cum(b) −
 * cum(a − 1), where cum(x) is the month's prefix sum at its last stored day on or before x (found
 * by one backward index look-up; a day without a stored row adds nothing). usage_month is read in its
 * primary-key order, so grouping needs no sort, and each instrument costs four index look-ups.
 */
export function fleetTotalsCte(period: Period, storedTo: string): { cte: string; args: string[] } {
  const a = period.from;
  const monthA = a.slice(0, 7);
  const monthB = storedTo.slice(0, 7);
  // Nothing stored in the period yet (it starts today): parameters that match no row.
  const none = a > storedTo;
  return {
    cte: `g AS (
      SELECT instrument_id AS id, TOTAL(CASE WHEN month = ?2 THEN 0 ELSE powered_ms END) AS p,
        TOTAL(CASE WHEN month = ?2 THEN 0 ELSE running_ms END) AS r,
        TOTAL(CASE WHEN month = ?2 THEN 0 ELSE covered_ms END) AS c,
        MAX(month = ?1) AS has_a, MAX(month = ?2) AS has_b
      FROM usage_month WHERE month >= ?1 AND month <= ?2 GROUP BY instrument_id),
    e AS (
      SELECT g.*,
        CASE WHEN has_b THEN (SELECT date FROM usage_month_cum
          WHERE instrument_id = g.id AND date >= ?2 || '-01' AND date <= ?3 ORDER BY date DESC LIMIT 1) END AS db,
        CASE WHEN has_a AND ?4 != '' THEN (SELECT date FROM usage_month_cum
          WHERE instrument_id = g.id AND date >= ?1 || '-01' AND date <= ?4 ORDER BY date DESC LIMIT 1) END AS da
      FROM g),
    t AS (
      SELECT e.id, e.p + COALESCE(cb.powered_ms, 0) - COALESCE(ca.powered_ms, 0) AS p,
        e.r + COALESCE(cb.running_ms, 0) - COALESCE(ca.running_ms, 0) AS r,
        e.c + COALESCE(cb.covered_ms, 0) - COALESCE(ca.covered_ms, 0) AS c
      FROM e LEFT JOIN usage_month_cum cb ON cb.instrument_id = e.id AND cb.date = e.db
        LEFT JOIN usage_month_cum ca ON ca.instrument_id = e.id AND ca.date = e.da)`,
    args: none
      ? ['9999-99', '0000-00', '', '']
      : [monthA, monthB, storedTo, a.slice(8) === '01' ? '' : previousDate(a)],
  };
}

/**
 * The days after `storedTo` that have begun, computed live as getUsage does, for the instruments
 * whose latest message can reach them (an older one has gone stale before the first live day).
 * An instrument without an observation in the live window has nothing but unknown time there: one
 * statement finds those that have some, and only they are computed (at noon a province has ~15,500
 * recent instruments; a per-instrument query for each cost ~300 ms even when most had nothing).
 * Those are read one by one: measured faster than one joined read of all their observations
 * (2,000 instruments × 432 observations: 0.6 s against 1.3 s; node:sqlite's per-row cost).
 */
export function liveTotals(
  ctx: CollectorContext,
  period: Period,
  storedTo: string,
  now = ctx.now(),
): Map<string, { p: number; r: number; c: number }> {
  const out = new Map<string, { p: number; r: number; c: number }>();
  const live = period.days.filter((d) => d.date > storedTo && d.start < now).map((d) => d.date);
  if (live.length === 0) return out;
  const { timezone, offlineAfter } = ctx.config;
  const firstLive = dayBounds(live[0]!, timezone).start;
  // The live days are consecutive (the tail of the period): the window computeDays reads.
  const withEvidence = stmt(
    ctx.db,
    `SELECT s.instrument_id AS id FROM instrument_status s
      WHERE s.last_seen >= ?1 AND EXISTS (SELECT 1 FROM observations o
        WHERE o.instrument_id = s.instrument_id AND o.ts >= ?1 AND o.ts < ?2)`,
  ).all(firstLive - offlineAfter, dayBounds(live[live.length - 1]!, timezone).end) as { id: string }[];
  for (const { id } of withEvidence) {
    const sum = { p: 0, r: 0, c: 0 };
    for (const day of computeDays(ctx, id, live, now)) {
      sum.p += day.poweredMs;
      sum.r += day.runningMs;
      sum.c += day.coveredMs;
    }
    out.set(id, sum);
  }
  return out;
}

/** The prefix sums of one instrument's month up to `date` (its last stored day on or before it). */
function lastCum(ctx: CollectorContext, id: string, date: string): SumsRow[] {
  const row = stmt(
    ctx.db,
    `SELECT instrument_id AS id, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month_cum
       WHERE instrument_id = ? AND date >= ? AND date <= ? ORDER BY date DESC LIMIT 1`,
  ).get(id, `${date.slice(0, 7)}-01`, date) as SumsRow | undefined;
  return row ? [row] : [];
}

function previousDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}
