import type { CollectorContext } from '../context.ts';
import { stmt } from '../derive/io/store.ts';
import { dateOf, datesBetween, dayBounds, isoWithOffset } from '../derive/pure/calendar.ts';
import { DAY_MS, effectiveIdleDays, idleReason, idleVerdict } from '../derive/pure/idle.ts';
import { coverageOf, sumUsage } from '../derive/pure/usage.ts';
import { QueryError } from './errors.ts';
import { usageOfDates } from './usage.ts';

/** Why an instrument is in the idle list. */
export type IdleReason = 'silent' | 'not_powered' | 'no_state';

/** GET /v1/idle (SPEC, plus what tells "switched off" from "we know nothing"). */
export interface IdleAnswer {
  /** Idle instruments, longest idle first. idleDays: whole days since lastPoweredAt (or first message). */
  items: {
    id: string;
    org: string | null;
    name: string | null;
    lastPoweredAt: string | null;
    idleDays: number;
    /** Event time of the newest message. */
    lastSeen: string;
    reason: IdleReason;
    /** The idle window: the last `days` days, today included (dates in the collector's time zone). */
    window: { from: string; to: string };
    /** Share of the window with fresh evidence of the state. */
    coverage: number;
  }[];
  /** Registered, but no message was ever accepted: not idle, unknown. */
  neverReported: { id: string; org: string | null; name: string | null; reason: 'never_seen' }[];
}

/**
 * Instruments with no powered state for at least `days` (else each one's own idleDays, else the
 * config's). An instrument never seen powered counts from its first message.
 *
 * Each item says why it is listed, since "not powered" covers both an instrument reported off for
 * months and one whose agent went quiet months ago: `silent` when nothing arrived (by event time)
 * for `offlineAfter`, else `no_state` when what it sends gives no state at all (telemetry without
 * state, and no thresholds to classify it), else `not_powered`; and how much of the idle window
 * the collector has evidence for.
 */
export function getIdle(
  ctx: CollectorContext,
  opts: { days?: number | undefined; org?: string | undefined } = {},
): IdleAnswer {
  const { days } = opts;
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 36_500)) {
    throw new QueryError(
      'bad_request',
      `${days} is not a whole number of days from 1 to 36500: give one in that range`,
      'days',
    );
  }
  const now = ctx.now();
  const { timezone, offlineAfter } = ctx.config;
  const rows = stmt(
    ctx.db,
    `SELECT k.id, i.org, i.name, i.idle_days, s.first_seen, s.last_seen, s.last_powered_at
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id
       LEFT JOIN instrument_status s ON s.instrument_id = k.id
       WHERE ?1 IS NULL OR i.org = ?1
       ORDER BY k.id`,
  ).all(opts.org ?? null) as {
    id: string;
    org: string | null;
    name: string | null;
    idle_days: number | null;
    first_seen: number | null;
    last_seen: number | null;
    last_powered_at: number | null;
  }[];
  const answer: IdleAnswer = { items: [], neverReported: [] };
  const today = dateOf(now, timezone);
  for (const r of rows) {
    const threshold = effectiveIdleDays(days, r.idle_days, ctx.config.idleDays);
    const verdict = idleVerdict(
      { firstSeen: r.first_seen, lastPoweredAt: r.last_powered_at },
      threshold,
      now,
    );
    if (verdict.kind === 'never_reported') {
      answer.neverReported.push({ id: r.id, org: r.org, name: r.name, reason: 'never_seen' });
    } else if (verdict.kind === 'idle') {
      const window = { from: dateOf(now - threshold * DAY_MS, timezone), to: today };
      const lastSeen = r.last_seen ?? r.first_seen!;
      const coverage = windowCoverage(ctx, r.id, window, r.first_seen!, lastSeen, now);
      answer.items.push({
        id: r.id,
        org: r.org,
        name: r.name,
        lastPoweredAt: r.last_powered_at === null ? null : isoWithOffset(r.last_powered_at, timezone),
        idleDays: verdict.idleDays,
        lastSeen: isoWithOffset(lastSeen, timezone),
        reason: idleReason(lastSeen, hasState(ctx, r.id), offlineAfter, now),
        window,
        coverage,
      });
    }
  }
  answer.items.sort((a, b) => b.idleDays - a.idleDays || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return answer;
}

/**
 * Share of the idle window with fresh evidence. Only the days between the first message and the
 * last one's evidence can hold any: the others count as uncovered without being computed, so a
 * list of many instruments silent for months costs a few reads, not months of days each.
 */
function windowCoverage(
  ctx: CollectorContext,
  id: string,
  window: { from: string; to: string },
  firstSeen: number,
  lastSeen: number,
  now: number,
): number {
  const { timezone, offlineAfter } = ctx.config;
  const start = dayBounds(window.from, timezone).start;
  const from = maxDate(window.from, dateOf(firstSeen, timezone));
  const to = minDate(window.to, dateOf(lastSeen + offlineAfter, timezone));
  const covered = from <= to ? sumUsage(usageOfDates(ctx, id, datesBetween(from, to))).coveredMs : 0;
  return coverageOf(covered, now - start);
}

const maxDate = (a: string, b: string) => (a > b ? a : b);
const minDate = (a: string, b: string) => (a < b ? a : b);

/** Whether anything the instrument ever sent gave a state (an observation). */
function hasState(ctx: CollectorContext, id: string): boolean {
  return stmt(ctx.db, 'SELECT 1 FROM observations WHERE instrument_id = ? LIMIT 1').get(id) !== undefined;
}
