/**
 * Usage of many instruments over one period, exactly as `/v1/instruments/{id}/usage` answers it for
 * each (the same stored days, the same live computation of days that are not final), but reading a
 * few rows per instrument: stored days come from the monthly rollups of migration 7
 * (`usage_month`, `usage_month_cum`), so a year over 16,000 instruments is not 5.8 million rows.
 */
import type { CollectorContext } from '../context.ts';
import { datesBetween, dayBounds, isDate } from '../derive/calendar.ts';
import { computeDays, lastFinalDate, recomputeDirty } from '../derive/recompute.ts';
import { stmt } from '../derive/store.ts';
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

  const lastFinal = lastFinalDate(ctx, now);
  const storedTo = [period.to, lastFinal].sort()[0]!;
  if (period.from <= storedTo) {
    // sum(a..b) = Σ months[monthA..monthB] − cum(monthA, < a) − month(monthB) + cum(monthB, ≤ b)
    const a = period.from;
    const b = storedTo;
    const monthA = a.slice(0, 7);
    const monthB = b.slice(0, 7);
    // A few instruments: their own index ranges; a fleet: one pass over the months' rows.
    const few = ids !== undefined && ids.length <= FEW;
    const months = (few
      ? ids.flatMap((id) =>
          stmt(
            db,
            `SELECT instrument_id AS id, month, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month
                 WHERE instrument_id = ? AND month >= ? AND month <= ?`,
          ).all(id, monthA, monthB),
        )
      : stmt(
          db,
          `SELECT instrument_id AS id, month, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month
               WHERE month >= ? AND month <= ?`,
        ).all(monthA, monthB)) as unknown as (SumsRow & { month: string })[];
    add(months, 1);
    const inMonthB = months.filter((m) => m.month === monthB);
    add(inMonthB, -1);
    // cum(monthA, < a): the last stored day of monthA before a (none when a is the 1st).
    if (a.slice(8) !== '01') {
      const inMonthA = new Set(months.filter((m) => m.month === monthA).map((m) => m.id));
      add(cumAt(ctx, previousDate(a), inMonthA, few), -1);
    }
    add(cumAt(ctx, b, new Set(inMonthB.map((m) => m.id)), few), 1);
  }

  // Days after the last final one: computed live, as getUsage does, for instruments whose latest
  // message can reach them (an older one has gone stale before the first live day).
  const live = period.days.filter((d) => d.date > storedTo && d.start < now).map((d) => d.date);
  if (live.length > 0) {
    const firstLive = dayBounds(live[0]!, ctx.config.timezone).start;
    const recent = stmt(db, 'SELECT instrument_id AS id FROM instrument_status WHERE last_seen >= ?').all(
      firstLive - ctx.config.offlineAfter,
    ) as { id: string }[];
    for (const { id } of recent) {
      const t = out.get(id);
      if (!t) continue;
      for (const day of computeDays(ctx, id, live, now)) {
        t.poweredMs += day.poweredMs;
        t.runningMs += day.runningMs;
        t.coveredMs += day.coveredMs;
      }
    }
  }
  return out;
}

/**
 * Prefix sums of the month of `date` up to `date` included, for the instruments of `candidates`
 * (those with stored days in that month): one index range for those with a stored row on `date`
 * itself (a reporting instrument has one every day), a point query for each of the others.
 */
function cumAt(
  ctx: CollectorContext,
  date: string,
  candidates: ReadonlySet<string>,
  few: boolean,
): SumsRow[] {
  const exact = few
    ? []
    : (stmt(
        ctx.db,
        'SELECT instrument_id AS id, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month_cum WHERE date = ?',
      ).all(date) as unknown as SumsRow[]);
  const found = new Set(exact.map((r) => r.id));
  const before = stmt(
    ctx.db,
    `SELECT instrument_id AS id, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month_cum
       WHERE instrument_id = ? AND date >= ? AND date <= ? ORDER BY date DESC LIMIT 1`,
  );
  const monthStart = `${date.slice(0, 7)}-01`;
  for (const id of candidates) {
    if (found.has(id)) continue;
    const row = before.get(id, monthStart, date) as SumsRow | undefined;
    if (row) exact.push(row);
  }
  return exact;
}

function previousDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}
