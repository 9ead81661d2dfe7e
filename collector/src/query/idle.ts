import type { CollectorContext } from '../context.ts';
import { isoWithOffset } from '../derive/calendar.ts';
import { effectiveIdleDays, idleVerdict } from '../derive/idle.ts';
import { stmt } from '../derive/store.ts';
import { QueryError } from './errors.ts';

/** GET /v1/idle (SPEC). */
export interface IdleAnswer {
  /** Idle instruments, longest idle first. idleDays: whole days since lastPoweredAt (or first message). */
  items: { id: string; org: string | null; lastPoweredAt: string | null; idleDays: number }[];
  /** Registered, but no message was ever accepted: not idle, unknown. */
  neverReported: { id: string; org: string | null; name: string | null }[];
}

/**
 * Instruments with no powered state for at least `days` (else each one's own idleDays, else the
 * config's). An instrument never seen powered counts from its first message.
 */
export function getIdle(ctx: CollectorContext, opts: { days?: number } = {}): IdleAnswer {
  const { days } = opts;
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 36_500)) {
    throw new QueryError(
      'bad_request',
      `${days} is not a whole number of days from 1 to 36500: give one in that range`,
      'days',
    );
  }
  const now = ctx.now();
  const rows = stmt(
    ctx.db,
    `SELECT k.id, i.org, i.name, i.idle_days, s.first_seen, s.last_powered_at
       FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id
       LEFT JOIN instrument_status s ON s.instrument_id = k.id
       ORDER BY k.id`,
  ).all() as {
    id: string;
    org: string | null;
    name: string | null;
    idle_days: number | null;
    first_seen: number | null;
    last_powered_at: number | null;
  }[];
  const answer: IdleAnswer = { items: [], neverReported: [] };
  for (const r of rows) {
    const threshold = effectiveIdleDays(days, r.idle_days, ctx.config.idleDays);
    const verdict = idleVerdict(
      { firstSeen: r.first_seen, lastPoweredAt: r.last_powered_at },
      threshold,
      now,
    );
    if (verdict.kind === 'never_reported') {
      answer.neverReported.push({ id: r.id, org: r.org, name: r.name });
    } else if (verdict.kind === 'idle') {
      answer.items.push({
        id: r.id,
        org: r.org,
        lastPoweredAt:
          r.last_powered_at === null ? null : isoWithOffset(r.last_powered_at, ctx.config.timezone),
        idleDays: verdict.idleDays,
      });
    }
  }
  answer.items.sort((a, b) => b.idleDays - a.idleDays || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return answer;
}
