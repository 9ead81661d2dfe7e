/**
 * Reads the facts of an uptime report from the store, for a whole fleet at once, with the same
 * rules as `GET /v1/instruments/{id}/usage` (query/usage.ts): a stored day counts when it is final,
 * any other day that has begun is computed from the observations, a day not begun counts nothing.
 * Totals stay in exact ms; rounding happens once, in core/uptime.ts.
 */
import type { CollectorContext } from '../context.ts';
import { computeDays, lastFinalDate, recomputeDirty } from '../derive/io/recompute.ts';
import { loadObservations, stmt } from '../derive/io/store.ts';
import { dayBounds } from '../derive/pure/calendar.ts';
import type { PeriodDay, ReportPeriod } from './core/period.ts';
import type { InstrumentFacts } from './core/uptime.ts';

const DAY_MS = 86_400_000;

interface InstrumentRow {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  quota_hours: number | null;
  in_registry: number;
  first_seen: number | null;
  last_powered_at: number | null;
}

interface SumRow {
  id: string;
  p: number;
  r: number;
  c: number;
  s: number;
  n: number;
}

/** Every known instrument (registry and reporting ones), or those of one org, by id. */
export function loadInstruments(ctx: CollectorContext, org: string | null): InstrumentRow[] {
  return stmt(
    ctx.db,
    `SELECT k.id, i.name, i.org, i.category, i.quota_hours, i.id IS NOT NULL AS in_registry,
            s.first_seen, s.last_powered_at
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id
       LEFT JOIN instrument_status s ON s.instrument_id = k.id
      WHERE ?1 IS NULL OR i.org = ?1
      ORDER BY k.id`,
  ).all(org) as unknown as InstrumentRow[];
}

export function orgExists(ctx: CollectorContext, org: string): boolean {
  return stmt(ctx.db, 'SELECT 1 FROM instruments WHERE org = ? LIMIT 1').get(org) !== undefined;
}

/** `onProgress(done, total)` is told as instruments are read. */
export function loadUptimeFacts(
  ctx: CollectorContext,
  period: ReportPeriod,
  org: string | null,
  onProgress?: (done: number, total: number) => void,
): InstrumentFacts[] {
  // As /usage does first: store the dirty days that are final, so the stored rows are current.
  recomputeDirty(ctx);
  const instruments = loadInstruments(ctx, org);
  const sums = finalDaySums(ctx, period);
  const facts: InstrumentFacts[] = [];
  for (const row of instruments) {
    facts.push(factOf(ctx, period, row, sums.get(row.id)));
    if (onProgress && facts.length % 1000 === 0) onProgress(facts.length, instruments.length);
  }
  onProgress?.(instruments.length, instruments.length);
  return facts;
}

/** Instruments read per slice by `loadUptimeFactsYielding`. */
export const SLICE = 500;

/**
 * The same facts, read in slices of `SLICE` instruments (one range of the clustered daily_usage
 * each) with the event loop free between slices: a fleet's year holds up MQTT acknowledgements
 * and HTTP answers for one slice at a time, not for the whole read.
 */
export async function loadUptimeFactsYielding(
  ctx: CollectorContext,
  period: ReportPeriod,
  org: string | null,
  onProgress?: (done: number, total: number) => void,
): Promise<InstrumentFacts[]> {
  recomputeDirty(ctx);
  const instruments = loadInstruments(ctx, org);
  const facts: InstrumentFacts[] = [];
  for (let i = 0; i < instruments.length; i += SLICE) {
    const slice = instruments.slice(i, i + SLICE);
    const sums = finalDaySums(ctx, period, { first: slice[0]!.id, last: slice[slice.length - 1]!.id });
    for (const row of slice) facts.push(factOf(ctx, period, row, sums.get(row.id)));
    onProgress?.(facts.length, instruments.length);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (instruments.length === 0) onProgress?.(0, 0);
  return facts;
}

function factOf(
  ctx: CollectorContext,
  period: ReportPeriod,
  row: InstrumentRow,
  sum: SumRow | undefined,
): InstrumentFacts {
  const f: InstrumentFacts = {
    id: row.id,
    name: row.name,
    org: row.org,
    category: row.category,
    quotaHours: row.in_registry ? row.quota_hours : null,
    poweredMs: sum?.p ?? 0,
    runningMs: sum?.r ?? 0,
    coveredMs: sum?.c ?? 0,
    spanMs: sum?.s ?? 0,
    firstSeen: row.first_seen,
    lastPoweredBeforeEnd: lastPoweredBefore(ctx, period, row),
  };
  // Days without a final stored row: computed as /usage computes them.
  if ((sum?.n ?? 0) < period.pastDays.length) addUnstoredDays(ctx, period, f);
  return f;
}

/**
 * Per instrument, the sums of its final stored days that have begun, in one pass over
 * daily_usage. A row is final when computed at or after its day's end + offlineAfter. In a zone
 * whose offset does not change over the period (Asia/Shanghai: never) that instant is arithmetic
 * on the date; otherwise the dates and their final instants go into a temporary table keyed by
 * date (the connection's temp store, not the database file), one lookup per row.
 */
function finalDaySums(
  ctx: CollectorContext,
  period: ReportPeriod,
  ids: { first: string; last: string } = { first: '', last: '\u{10FFFF}' },
): Map<string, SumRow> {
  if (period.pastDays.length === 0) return new Map();
  const { db } = ctx;
  const lastPast = period.pastDays[period.pastDays.length - 1]!.date;
  const sums = `SELECT u.instrument_id AS id, SUM(u.powered_ms) AS p, SUM(u.running_ms) AS r,
            SUM(u.covered_ms) AS c, SUM(u.span_ms) AS s, COUNT(*) AS n`;
  // end(date) - (UTC midnight after date): minus the zone's offset, when it is one value.
  const shifts = new Set(period.pastDays.map((d) => d.end - (Date.parse(`${d.date}T00:00:00Z`) + DAY_MS)));
  let rows: SumRow[];
  if (shifts.size === 1) {
    const [shift] = shifts;
    rows = stmt(
      db,
      `${sums} FROM daily_usage u
        WHERE u.instrument_id >= ?4 AND u.instrument_id <= ?5
          AND u.date >= ?1 AND u.date <= ?2 AND u.computed_at >= (unixepoch(u.date) + 86400) * 1000 + ?3
        GROUP BY u.instrument_id`,
    ).all(
      period.from,
      lastPast,
      shift! + ctx.config.offlineAfter,
      ids.first,
      ids.last,
    ) as unknown as SumRow[];
  } else {
    db.exec(
      'CREATE TEMP TABLE IF NOT EXISTS dayi_report_days (date TEXT PRIMARY KEY, final_at INTEGER NOT NULL) WITHOUT ROWID',
    );
    stmt(db, 'DELETE FROM temp.dayi_report_days').run();
    const insert = stmt(db, 'INSERT INTO temp.dayi_report_days (date, final_at) VALUES (?, ?)');
    for (const d of period.pastDays) insert.run(d.date, d.finalAt);
    rows = stmt(
      db,
      `${sums} FROM daily_usage u JOIN temp.dayi_report_days d ON d.date = u.date
        WHERE u.instrument_id >= ?3 AND u.instrument_id <= ?4
          AND u.date >= ?1 AND u.date <= ?2 AND u.computed_at >= d.final_at
        GROUP BY u.instrument_id`,
    ).all(period.from, lastPast, ids.first, ids.last) as unknown as SumRow[];
    stmt(db, 'DELETE FROM temp.dayi_report_days').run();
  }
  return new Map(rows.map((r) => [r.id, r]));
}

function addUnstoredDays(ctx: CollectorContext, period: ReportPeriod, f: InstrumentFacts): void {
  const stored = stmt(
    ctx.db,
    'SELECT date, computed_at FROM daily_usage WHERE instrument_id = ? AND date >= ? AND date <= ?',
  ).all(f.id, period.from, period.to) as { date: string; computed_at: number }[];
  const computedAt = new Map(stored.map((r) => [r.date, r.computed_at]));
  const missing = period.pastDays.filter((d) => {
    const at = computedAt.get(d.date);
    return at === undefined || at < d.finalAt;
  });
  const { offlineAfter } = ctx.config;
  for (const run of consecutive(missing)) {
    const first = run[0]!;
    const last = run[run.length - 1]!;
    // No observation that can reach into these days: nothing powered, nothing covered, as
    // /usage would compute (only their span counts). Skips the per-day work for idle years.
    if (loadObservations(ctx.db, f.id, first.start, last.end, offlineAfter).length === 0) {
      for (const d of run) f.spanMs += d.spanMs;
      continue;
    }
    const days = computeDays(
      ctx,
      f.id,
      run.map((d) => d.date),
      period.now,
    );
    for (const d of days) {
      f.poweredMs += d.poweredMs;
      f.runningMs += d.runningMs;
      f.coveredMs += d.coveredMs;
      f.spanMs += d.spanMs;
    }
  }
}

function consecutive(days: readonly PeriodDay[]): PeriodDay[][] {
  const runs: PeriodDay[][] = [];
  for (const d of days) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1]!.end === d.start) run.push(d);
    else runs.push([d]);
  }
  return runs;
}

/**
 * The latest powered observation before the period's end. instrument_status keeps the latest
 * ever; only when that lies after the period (a report of an earlier period) are the
 * observations searched, starting from the last stored day with powered time.
 */
function lastPoweredBefore(ctx: CollectorContext, period: ReportPeriod, row: InstrumentRow): number | null {
  if (row.last_powered_at === null) return null;
  if (row.last_powered_at < period.endsAt) return row.last_powered_at;
  const { db } = ctx;
  const latest = (from: number, until: number) =>
    (
      stmt(
        db,
        `SELECT MAX(ts) AS ts FROM observations
          WHERE instrument_id = ? AND ts >= ? AND ts < ? AND state <> 'off'`,
      ).get(row.id, from, until) as { ts: number | null }
    ).ts;
  // Final stored days are complete: a powered observation shows as powered time on its day, so
  // only the last day with powered time (and the offlineAfter before it) needs reading.
  if (period.to < lastFinalDate(ctx, period.now)) {
    const day = stmt(
      db,
      `SELECT date FROM daily_usage WHERE instrument_id = ? AND date <= ? AND powered_ms > 0
        ORDER BY date DESC LIMIT 1`,
    ).get(row.id, period.to) as { date: string } | undefined;
    if (!day) return null;
    const { start, end } = dayBounds(day.date, ctx.config.timezone);
    const ts = latest(start - ctx.config.offlineAfter, Math.min(end, period.endsAt));
    if (ts !== null) return ts;
  }
  return latest(Number.MIN_SAFE_INTEGER, period.endsAt);
}
