/**
 * Fleet figures for the platform and the province: utilisation per org, category or instrument,
 * the purchase review (购置查重评议) of one category, and the weekly idle trend. Hours are exactly
 * those of `/v1/instruments/{id}/usage` for the same period (query/period.ts).
 */
import type { CollectorContext } from '../context.ts';
import { lastFinalDate, recomputeDirty } from '../derive/io/recompute.ts';
import { stmt } from '../derive/io/store.ts';
import { addDays, dateOf, isDate } from '../derive/pure/calendar.ts';
import { effectiveIdleDays, idleVerdict } from '../derive/pure/idle.ts';
import { coverageOf, toHours } from '../derive/pure/usage.ts';
import {
  idleTrend,
  type TrendInstrument,
  type TrendRow,
  type UnpoweredSpell,
  weeksEndingBetween,
} from '../figures/idle-trend.ts';
import { annualisedHours, PURCHASE_REVIEW_HOURS, proratedQuotaMs, utilisationOf } from '../figures/quota.ts';
import { QueryError } from './errors.ts';
import { fleetTotalsCte, liveTotals, type Period, periodOf, periodTotals, storedUntil } from './period.ts';

export const GROUP_BY = ['org', 'category', 'instrument'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

interface FleetRow {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  quota_hours: number | null;
  idle_days: number | null;
  first_seen: number | null;
  last_powered_at: number | null;
}

function fleet(ctx: CollectorContext, filter: { org?: string; category?: string } = {}): FleetRow[] {
  return stmt(
    ctx.db,
    `SELECT k.id, i.name, i.org, i.category, i.quota_hours, i.idle_days, s.first_seen, s.last_powered_at
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id
       LEFT JOIN instrument_status s ON s.instrument_id = k.id
       WHERE (?1 IS NULL OR i.org = ?1) AND (?2 IS NULL OR i.category = ?2)
       ORDER BY k.id`,
  ).all(filter.org ?? null, filter.category ?? null) as unknown as FleetRow[];
}

export interface UtilizationFigures {
  instruments: number;
  poweredHours: number;
  runningHours: number;
  /** Quota hours (定额机时) prorated to the elapsed part of the period. */
  quotaHours: number;
  /** runningHours / quotaHours, 0..1+ with 4 decimals; null without quota. */
  utilisation: number | null;
  /** Idle now (as `GET /v1/idle`, each instrument's own idleDays). */
  idle: number;
  /** Registered, no message ever accepted. */
  neverReported: number;
  coverage: number;
}

export interface UtilizationItem extends UtilizationFigures {
  /** The org, category or instrument id; null for instruments without one. */
  group: string | null;
  /** With groupBy=instrument: the instrument's registry entry. */
  instrument?: { id: string; name: string | null; org: string | null; category: string | null };
}

export interface UtilizationAnswer {
  from: string;
  to: string;
  groupBy: GroupBy;
  total: UtilizationFigures;
  items: UtilizationItem[];
}

interface Acc {
  instruments: number;
  poweredMs: number;
  runningMs: number;
  coveredMs: number;
  spanMs: number;
  quotaMs: number;
  idle: number;
  neverReported: number;
}

const emptyAcc = (): Acc => ({
  instruments: 0,
  poweredMs: 0,
  runningMs: 0,
  coveredMs: 0,
  spanMs: 0,
  quotaMs: 0,
  idle: 0,
  neverReported: 0,
});

function finish(a: Acc): UtilizationFigures {
  return {
    instruments: a.instruments,
    poweredHours: toHours(a.poweredMs),
    runningHours: toHours(a.runningMs),
    quotaHours: toHours(a.quotaMs),
    utilisation: utilisationOf(a.runningMs, a.quotaMs),
    idle: a.idle,
    neverReported: a.neverReported,
    coverage: coverageOf(a.coveredMs, a.spanMs),
  };
}

const byGroup = (a: string | null, b: string | null) =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1;

/** GET /v1/utilization. */
export function getUtilization(
  ctx: CollectorContext,
  opts: { from: string; to: string; groupBy: GroupBy; org?: string; category?: string },
): UtilizationAnswer {
  const period = periodOf(ctx, opts.from, opts.to);
  if (opts.groupBy !== 'instrument')
    return utilizationByGroup(ctx, period, { ...opts, groupBy: opts.groupBy });
  const rows = fleet(ctx, opts);
  const totals = periodTotals(
    ctx,
    period,
    rows.map((r) => r.id),
  );
  const quotaPerHour = proratedQuotaMs(1, period.days);
  const now = ctx.now();
  const groups = new Map<string | null, { acc: Acc; row: FleetRow }>();
  const total = emptyAcc();
  for (const r of rows) {
    const key = opts.groupBy === 'instrument' ? r.id : opts.groupBy === 'org' ? r.org : r.category;
    let g = groups.get(key);
    if (!g) {
      g = { acc: emptyAcc(), row: r };
      groups.set(key, g);
    }
    const t = totals.get(r.id) ?? { poweredMs: 0, runningMs: 0, coveredMs: 0, spanMs: period.spanMs };
    const verdict = idleVerdict(
      { firstSeen: r.first_seen, lastPoweredAt: r.last_powered_at },
      effectiveIdleDays(undefined, r.idle_days, ctx.config.idleDays),
      now,
    );
    for (const a of [g.acc, total]) {
      a.instruments++;
      a.poweredMs += t.poweredMs;
      a.runningMs += t.runningMs;
      a.coveredMs += t.coveredMs;
      a.spanMs += t.spanMs;
      a.quotaMs += (r.quota_hours ?? 1400) * quotaPerHour;
      if (verdict.kind === 'idle') a.idle++;
      if (verdict.kind === 'never_reported') a.neverReported++;
    }
  }
  return {
    from: opts.from,
    to: opts.to,
    groupBy: opts.groupBy,
    total: finish(total),
    items: [...groups.entries()]
      .sort(([a], [b]) => byGroup(a, b))
      .map(([key, g]) => ({
        group: key,
        ...(opts.groupBy === 'instrument'
          ? { instrument: { id: g.row.id, name: g.row.name, org: g.row.org, category: g.row.category } }
          : {}),
        ...finish(g.acc),
      })),
  };
}

type GroupOpts = { from: string; to: string; groupBy: 'org' | 'category'; org?: string; category?: string };

/**
 * Utilisation per org or category from the rollups per group and month and day (migration 10: the
 * sums of the group's stored days, kept by triggers when days are recomputed and when the registry
 * moves an instrument): for a year, ~120 groups × (11 months + the days of 2 edge months) small
 * rows, whatever the fleet's size. The
 * counts (instruments, quota, idle, never reported) are one pass over the registry in SQLite; the
 * days not final yet are computed live as /usage does. Figures equal summing the per-instrument
 * path (collector/test/api.platform.test.ts holds them equal).
 */
function utilizationByGroup(ctx: CollectorContext, period: Period, opts: GroupOpts): UtilizationAnswer {
  // A filter on the other dimension cannot be read from one dimension's rollup.
  if (opts.groupBy === 'org' ? opts.category !== undefined : opts.org !== undefined)
    return utilizationByGroupPerInstrument(ctx, period, opts);
  recomputeDirty(ctx);
  const now = ctx.now();
  const storedTo = storedUntil(ctx, period, now);
  const only = (opts.groupBy === 'org' ? opts.org : opts.category) ?? null;
  const counts = stmt(
    ctx.db,
    `SELECT g, COUNT(*) AS n, TOTAL(q) AS q,
       TOTAL(lp IS NOT NULL AND ?2 - lp >= COALESCE(idays, ?3) * 86400000) AS idle, TOTAL(lp IS NULL) AS never
     FROM (
       SELECT CASE ?1 WHEN 'org' THEN i.org ELSE i.category END AS g, COALESCE(i.quota_hours, 1400) AS q,
         COALESCE(s.last_powered_at, s.first_seen) AS lp, i.idle_days AS idays
         FROM instruments i LEFT JOIN instrument_status s ON s.instrument_id = i.id
         WHERE ?4 IS NULL OR CASE ?1 WHEN 'org' THEN i.org ELSE i.category END = ?4
       UNION ALL
       SELECT NULL, 1400, COALESCE(s.last_powered_at, s.first_seen), NULL FROM instrument_status s
         WHERE ?4 IS NULL AND NOT EXISTS (SELECT 1 FROM instruments i WHERE i.id = s.instrument_id))
     GROUP BY g`,
  ).all(opts.groupBy, now, ctx.config.idleDays, only) as unknown as {
    g: string | null;
    n: number;
    q: number;
    idle: number;
    never: number;
  }[];
  const sums = new Map<string | null, { p: number; r: number; c: number }>();
  if (period.from <= storedTo) {
    // Whole months from usage_group_month, the days of the two edge months from usage_group_day.
    const monthA = period.from.slice(0, 7);
    const monthB = storedTo.slice(0, 7);
    const rows = stmt(
      ctx.db,
      `SELECT grp, SUM(p) AS p, SUM(r) AS r, SUM(c) AS c FROM (
         SELECT grp, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_group_month
          WHERE dim = ?1 AND month > ?4 AND month < ?5 AND (?6 IS NULL OR grp = ?6)
         UNION ALL
         SELECT grp, powered_ms, running_ms, covered_ms FROM usage_group_day
          WHERE dim = ?1 AND date >= ?2 AND date <= MIN(?3, ?4 || '-31') AND (?6 IS NULL OR grp = ?6)
         UNION ALL
         SELECT grp, powered_ms, running_ms, covered_ms FROM usage_group_day
          WHERE dim = ?1 AND ?5 > ?4 AND date >= ?5 || '-01' AND date <= ?3 AND (?6 IS NULL OR grp = ?6))
       GROUP BY grp`,
    ).all(opts.groupBy, period.from, storedTo, monthA, monthB, only) as unknown as {
      grp: string;
      p: number;
      r: number;
      c: number;
    }[];
    for (const row of rows) sums.set(row.grp === '' ? null : row.grp, row);
  }
  const quotaPerHour = proratedQuotaMs(1, period.days);
  const groups = new Map<string | null, Acc>();
  for (const row of counts) {
    const sum = sums.get(row.g);
    groups.set(row.g, {
      instruments: row.n,
      poweredMs: sum?.p ?? 0,
      runningMs: sum?.r ?? 0,
      coveredMs: sum?.c ?? 0,
      spanMs: period.spanMs * row.n,
      quotaMs: row.q * quotaPerHour,
      idle: row.idle,
      neverReported: row.never,
    });
  }
  addLive(ctx, period, storedTo, now, opts, groups);
  return groupAnswer(opts, groups);
}

/** The days not final yet, computed live per instrument as /usage does, added to their groups. */
function addLive(
  ctx: CollectorContext,
  period: Period,
  storedTo: string,
  now: number,
  opts: GroupOpts,
  groups: Map<string | null, Acc>,
): void {
  const lives = liveTotals(ctx, period, storedTo, now);
  if (lives.size === 0) return;
  // Many instruments: their registry entries in one statement, not one look-up each.
  const registry =
    lives.size > 200
      ? new Map(
          (
            stmt(ctx.db, 'SELECT id, org, category FROM instruments').all() as {
              id: string;
              org: string | null;
              category: string | null;
            }[]
          ).map((r) => [r.id, r]),
        )
      : null;
  const groupOf = stmt(ctx.db, 'SELECT org, category FROM instruments WHERE id = ?');
  for (const [id, live] of lives) {
    const reg = (registry ? registry.get(id) : groupOf.get(id)) as
      | { org: string | null; category: string | null }
      | undefined;
    if (opts.org !== undefined && reg?.org !== opts.org) continue;
    if (opts.category !== undefined && reg?.category !== opts.category) continue;
    const acc = groups.get((opts.groupBy === 'org' ? reg?.org : reg?.category) ?? null);
    if (!acc) continue;
    acc.poweredMs += live.p;
    acc.runningMs += live.r;
    acc.coveredMs += live.c;
  }
}

function groupAnswer(opts: GroupOpts, groups: Map<string | null, Acc>): UtilizationAnswer {
  const total = emptyAcc();
  for (const acc of groups.values()) {
    for (const k of Object.keys(total) as (keyof Acc)[]) total[k] += acc[k];
  }
  return {
    from: opts.from,
    to: opts.to,
    groupBy: opts.groupBy,
    total: finish(total),
    items: [...groups.entries()]
      .sort(([a], [b]) => byGroup(a, b))
      .map(([key, acc]) => ({ group: key, ...finish(acc) })),
  };
}

/**
 * Utilisation per org or category filtered by the other dimension: summed per instrument in
 * SQLite from the monthly rollups (one row per group reaches JavaScript); the few instruments
 * that need an edge fix are added one by one.
 */
function utilizationByGroupPerInstrument(
  ctx: CollectorContext,
  period: Period,
  opts: GroupOpts,
): UtilizationAnswer {
  recomputeDirty(ctx);
  const now = ctx.now();
  const storedTo = storedUntil(ctx, period, now);
  const sql = fleetTotalsCte(period, storedTo);
  const rows = stmt(
    ctx.db,
    `WITH ${sql.cte}, k AS (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status)
     SELECT CASE ?5 WHEN 'org' THEN i.org ELSE i.category END AS g, COUNT(*) AS n,
       TOTAL(t.p) AS p, TOTAL(t.r) AS r, TOTAL(t.c) AS c, TOTAL(COALESCE(i.quota_hours, 1400)) AS q,
       TOTAL(COALESCE(s.last_powered_at, s.first_seen) IS NOT NULL
         AND ?6 - COALESCE(s.last_powered_at, s.first_seen) >= COALESCE(i.idle_days, ?7) * 86400000) AS idle,
       TOTAL(COALESCE(s.last_powered_at, s.first_seen) IS NULL) AS never
     FROM k LEFT JOIN instruments i ON i.id = k.id LEFT JOIN instrument_status s ON s.instrument_id = k.id
       LEFT JOIN t ON t.id = k.id
     WHERE (?8 IS NULL OR i.org = ?8) AND (?9 IS NULL OR i.category = ?9)
     GROUP BY g`,
  ).all(
    ...sql.args,
    opts.groupBy,
    now,
    ctx.config.idleDays,
    opts.org ?? null,
    opts.category ?? null,
  ) as unknown as {
    g: string | null;
    n: number;
    p: number;
    r: number;
    c: number;
    q: number;
    idle: number;
    never: number;
  }[];
  const quotaPerHour = proratedQuotaMs(1, period.days);
  const groups = new Map<string | null, Acc>();
  for (const row of rows) {
    const acc: Acc = {
      instruments: row.n,
      poweredMs: row.p,
      runningMs: row.r,
      coveredMs: row.c,
      spanMs: period.spanMs * row.n,
      quotaMs: row.q * quotaPerHour,
      idle: row.idle,
      neverReported: row.never,
    };
    groups.set(row.g, acc);
  }
  addLive(ctx, period, storedTo, now, opts, groups);
  return groupAnswer(opts, groups);
}

export interface PurchaseReviewItem {
  id: string;
  name: string | null;
  org: string | null;
  runningHours: number;
  coverage: number;
  /** Days of the period since the instrument's first message (what the hours are annualised over). */
  observedDays: number;
  /** Running hours scaled to a year; null for an instrument that never reported in the period. */
  annualisedHours: number | null;
  /** At or above the 1,200 h bar. */
  full: boolean;
}

export interface PurchaseReviewAnswer {
  category: string;
  from: string;
  to: string;
  barHours: number;
  summary: {
    instruments: number;
    /** With an annualised figure (reported during the period). */
    measured: number;
    full: number;
    belowBar: number;
    meanAnnualisedHours: number | null;
    /** Every measured unit at or above the bar (and at least one measured). */
    allFull: boolean;
  };
  items: PurchaseReviewItem[];
}

/** GET /v1/purchase-review: every instrument of one category against 1,200 h a year. */
export function getPurchaseReview(
  ctx: CollectorContext,
  opts: { category: string; from?: string | undefined; to?: string | undefined; org?: string | undefined },
): PurchaseReviewAnswer {
  const tz = ctx.config.timezone;
  const now = ctx.now();
  // Default: the last 365 whole days (yesterday and the 364 days before it).
  const to = opts.to ?? addDays(dateOf(now, tz), -1);
  const from = opts.from ?? addDays(to, -364);
  if (!isDate(to))
    throw new QueryError('bad_request', `to: ${JSON.stringify(to)} is not a date (YYYY-MM-DD)`, 'to');
  const period = periodOf(ctx, from, to);
  const rows = fleet(ctx, { category: opts.category, ...(opts.org === undefined ? {} : { org: opts.org }) });
  const totals = periodTotals(
    ctx,
    period,
    rows.map((r) => r.id),
  );
  const end = Math.min(period.end, now);
  const items = rows.map((r): PurchaseReviewItem => {
    const t = totals.get(r.id)!;
    const observedFrom = r.first_seen === null ? null : Math.max(period.start, r.first_seen);
    const elapsed = observedFrom === null ? 0 : Math.max(0, end - observedFrom);
    const annualised = annualisedHours(t.runningMs, elapsed);
    return {
      id: r.id,
      name: r.name,
      org: r.org,
      runningHours: toHours(t.runningMs),
      coverage: coverageOf(t.coveredMs, t.spanMs),
      observedDays: Math.round((elapsed / 86_400_000) * 100) / 100,
      annualisedHours: annualised,
      full: annualised !== null && annualised >= PURCHASE_REVIEW_HOURS,
    };
  });
  items.sort((a, b) => (b.annualisedHours ?? -1) - (a.annualisedHours ?? -1) || (a.id < b.id ? -1 : 1));
  const measured = items.filter((i) => i.annualisedHours !== null);
  const full = measured.filter((i) => i.full).length;
  return {
    category: opts.category,
    from,
    to,
    barHours: PURCHASE_REVIEW_HOURS,
    summary: {
      instruments: items.length,
      measured: measured.length,
      full,
      belowBar: measured.length - full,
      meanAnnualisedHours:
        measured.length === 0
          ? null
          : Math.round((measured.reduce((s, i) => s + i.annualisedHours!, 0) / measured.length) * 100) / 100,
      allFull: measured.length > 0 && full === measured.length,
    },
    items,
  };
}

/** Longest span of one idle-trend query, in days (three years of weeks). */
export const MAX_TREND_DAYS = 1100;

export interface IdleTrendAnswer {
  from: string;
  to: string;
  days: number;
  groupBy: 'org' | 'category' | null;
  weeks: (Omit<TrendRow, 'groups'> & {
    groups: { group: string | null; idle: number; reporting: number }[];
  })[];
}

/**
 * GET /v1/kpi/idle-trend: per week ending in [from, to] (only weeks whose Sunday is final), the
 * instruments with no powered time in the `days` calendar days ending that Sunday (figures/idle-trend.ts).
 */
export function getIdleTrend(
  ctx: CollectorContext,
  opts: {
    from: string;
    to: string;
    days?: number | undefined;
    groupBy?: 'org' | 'category' | undefined;
    org?: string | undefined;
  },
): IdleTrendAnswer {
  const days = opts.days ?? ctx.config.idleDays;
  periodOf(ctx, opts.from, opts.to, MAX_TREND_DAYS);
  // A week is answered once its Sunday can no longer change with time alone.
  recomputeDirty(ctx);
  const lastFinal = lastFinalDate(ctx);
  const to = [opts.to, lastFinal].sort()[0]!;
  const weeks = weeksEndingBetween(opts.from, to, days);
  const answer: IdleTrendAnswer = {
    from: opts.from,
    to: opts.to,
    days,
    groupBy: opts.groupBy ?? null,
    weeks: [],
  };
  if (weeks.length === 0) return answer;
  const lower = weeks[0]!.windowStart;
  const upper = weeks[weeks.length - 1]!.end;
  const tz = ctx.config.timezone;
  const instruments = new Map<string, TrendInstrument & { spells: UnpoweredSpell[] }>();
  const members = stmt(
    ctx.db,
    `SELECT k.id, CASE ?1 WHEN 'org' THEN i.org WHEN 'category' THEN i.category END AS g, s.first_seen
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id LEFT JOIN instrument_status s ON s.instrument_id = k.id
       WHERE ?2 IS NULL OR i.org = ?2`,
  ).all(opts.groupBy ?? null, opts.org ?? null) as {
    id: string;
    g: string | null;
    first_seen: number | null;
  }[];
  for (const r of members) {
    instruments.set(r.id, {
      group: r.g,
      firstSeenDate: r.first_seen === null ? null : dateOf(r.first_seen, tz),
      spells: [],
    });
  }
  for (const spell of days >= GAP_MIN_DAYS
    ? longGaps(ctx, weeks[0]!.end, weeks[weeks.length - 1]!.windowStart, days)
    : gapsInRange(ctx, lower, upper, days)) {
    instruments.get(spell.id)?.spells.push(spell);
  }
  answer.weeks = idleTrend([...instruments.values()], weeks).map((w) =>
    opts.groupBy ? w : { ...w, groups: [] },
  );
  return answer;
}

/** migration 10's usage_gaps keeps every unpowered run of at least this many days. */
const GAP_MIN_DAYS = 8;
const BEFORE_ALL = '0000-01-01';
const AFTER_ALL = '9999-12-31';

/**
 * The unpowered spells of `days` or more that can hold some week's window (they begin before the
 * last window and end after the first Sunday), from migration 10's gaps: a few rows, whatever the
 * fleet's history. An instrument never powered has no gap row: its spell is unbounded.
 */
function longGaps(
  ctx: CollectorContext,
  firstEnd: string,
  lastWindowStart: string,
  days: number,
): (UnpoweredSpell & { id: string })[] {
  const rows = stmt(
    ctx.db,
    `SELECT instrument_id AS id, after, before FROM usage_gaps
      WHERE after < ?1 AND before > ?2 AND julianday(before) - julianday(after) > ?3
     UNION ALL
     SELECT k.id, '${BEFORE_ALL}', '${AFTER_ALL}'
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
      WHERE NOT EXISTS (SELECT 1 FROM usage_gaps g WHERE g.instrument_id = k.id)`,
  ).all(lastWindowStart, firstEnd, days) as { id: string; after: string; before: string }[];
  return rows.map((r) => ({
    id: r.id,
    after: r.after === BEFORE_ALL ? null : r.after,
    before: r.before === AFTER_ALL ? null : r.before,
  }));
}

/**
 * Spells for windows shorter than usage_gaps keeps: only the powered days that border a spell of
 * `days` or more reach JavaScript (the first and last of each instrument in the range, and both
 * ends of each long gap).
 */
function gapsInRange(
  ctx: CollectorContext,
  lower: string,
  upper: string,
  days: number,
): (UnpoweredSpell & { id: string })[] {
  const borders = stmt(
    ctx.db,
    `SELECT id, prev, date, next FROM (
       SELECT instrument_id AS id, date, LAG(date) OVER w AS prev, LEAD(date) OVER w AS next
         FROM daily_usage WHERE powered_ms > 0 AND date >= ?1 AND date <= ?2
         WINDOW w AS (PARTITION BY instrument_id ORDER BY date))
     WHERE prev IS NULL OR next IS NULL OR julianday(date) - julianday(prev) > ?3`,
  ).all(lower, upper, days) as { id: string; prev: string | null; date: string; next: string | null }[];
  const out: (UnpoweredSpell & { id: string })[] = [];
  const seenPowered = new Set<string>();
  for (const row of borders) {
    seenPowered.add(row.id);
    if (row.prev === null) out.push({ id: row.id, after: null, before: row.date });
    else if (row.date > addDays(row.prev, 1)) out.push({ id: row.id, after: row.prev, before: row.date });
    if (row.next === null) out.push({ id: row.id, after: row.date, before: null });
  }
  const all = stmt(
    ctx.db,
    'SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status',
  ).all() as {
    id: string;
  }[];
  for (const { id } of all) if (!seenPowered.has(id)) out.push({ id, after: null, before: null });
  return out;
}
