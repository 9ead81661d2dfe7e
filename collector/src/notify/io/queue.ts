/**
 * The durable queue of notifications (`notify_deliveries`, migration 7). A row is inserted in the
 * same transaction as the alert change (or digest) it tells about, so a crash loses neither; it
 * leaves `pending` only when delivered, or as a dead letter after the last try.
 */
import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from '../../derive/io/store.ts';
import type { NotifyEvent } from '../pure/events.ts';

export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface DeliveryRow {
  id: number;
  idempotency_key: string;
  channel: string;
  event: string;
  alert_id: string | null;
  instrument_id: string | null;
  org: string | null;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  last_attempt_at: number | null;
  last_error: string | null;
  done_at: number | null;
}

/** The idempotency key of one notification on one channel: stable, so a re-queued duplicate is dropped. */
export function idempotencyKey(parts: readonly (string | number)[]): string {
  return `dayi-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;
}

export interface NewDelivery {
  key: string;
  channel: string;
  event: NotifyEvent;
  /** `alert.opened`, `digest.idle`, … */
  eventName: string;
  alertId: string | null;
  instrumentId: string | null;
  org: string | null;
  now: number;
}

/** Inserts one pending delivery, due at once; false when the same key is already queued. */
export function enqueue(db: DatabaseSync, d: NewDelivery): boolean {
  const r = stmt(
    db,
    `INSERT OR IGNORE INTO notify_deliveries (idempotency_key, channel, event, alert_id, instrument_id, org, payload,
       status, attempts, next_attempt_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
  ).run(
    d.key,
    d.channel,
    d.eventName,
    d.alertId,
    d.instrumentId,
    d.org,
    JSON.stringify(d.event),
    d.now,
    d.now,
  );
  return Number(r.changes) > 0;
}

/** When this alert was last queued for this channel (ms), or null. */
export function lastQueuedAt(db: DatabaseSync, alertId: string, channel: string): number | null {
  const row = stmt(
    db,
    'SELECT MAX(created_at) AS at FROM notify_deliveries WHERE alert_id = ? AND channel = ?',
  ).get(alertId, channel) as { at: number | null };
  return row.at;
}

/** Pending rows due at `now`, oldest first, leaving out those already in flight. */
export function dueDeliveries(
  db: DatabaseSync,
  now: number,
  limit: number,
  skip: ReadonlySet<number>,
): DeliveryRow[] {
  const rows = stmt(
    db,
    `SELECT * FROM notify_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
       ORDER BY next_attempt_at, id LIMIT ?`,
  ).all(now, limit + skip.size) as unknown as DeliveryRow[];
  return rows.filter((r) => !skip.has(r.id)).slice(0, limit);
}

/** The earliest next attempt of a pending row, or null when none is pending. */
export function nextDueAt(db: DatabaseSync): number | null {
  const row = stmt(
    db,
    "SELECT MIN(next_attempt_at) AS at FROM notify_deliveries WHERE status = 'pending'",
  ).get() as {
    at: number | null;
  };
  return row.at;
}

export function markDelivered(db: DatabaseSync, id: number, now: number): void {
  stmt(
    db,
    `UPDATE notify_deliveries SET status = 'delivered', attempts = attempts + 1, last_attempt_at = ?, done_at = ?,
       last_error = NULL WHERE id = ?`,
  ).run(now, now, id);
}

export function markRetry(db: DatabaseSync, id: number, now: number, nextAt: number, error: string): void {
  stmt(
    db,
    `UPDATE notify_deliveries SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ?, last_error = ?
       WHERE id = ?`,
  ).run(now, nextAt, error, id);
}

export function markDead(
  db: DatabaseSync,
  id: number,
  now: number,
  error: string,
  countAttempt = true,
): void {
  stmt(
    db,
    `UPDATE notify_deliveries SET status = 'dead', attempts = attempts + ?, last_attempt_at = ?, done_at = ?,
       last_error = ? WHERE id = ?`,
  ).run(countAttempt ? 1 : 0, now, now, error, id);
}

/** Puts a dead letter back in the queue, due now, with its attempts counted afresh. */
export function requeue(db: DatabaseSync, id: number, now: number): boolean {
  const r = stmt(
    db,
    `UPDATE notify_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL
       WHERE id = ? AND status = 'dead'`,
  ).run(now, id);
  return Number(r.changes) > 0;
}

export function countByStatus(db: DatabaseSync): Record<DeliveryStatus, number> {
  const out: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
  for (const s of DELIVERY_STATUSES) {
    out[s] = (
      stmt(db, 'SELECT COUNT(*) AS n FROM notify_deliveries WHERE status = ?').get(s) as { n: number }
    ).n;
  }
  return out;
}

/** A page of deliveries in one status (newest first), keyset by id. */
export function listDeliveries(
  db: DatabaseSync,
  opts: {
    status?: DeliveryStatus | undefined;
    channel?: string | undefined;
    org?: string | undefined;
    limit: number;
    cursor?: number | undefined;
  },
): DeliveryRow[] {
  return stmt(
    db,
    `SELECT * FROM notify_deliveries
       WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR channel = ?2) AND (?3 IS NULL OR id < ?3)
         AND (?5 IS NULL OR org = ?5)
       ORDER BY id DESC LIMIT ?4`,
  ).all(
    opts.status ?? null,
    opts.channel ?? null,
    opts.cursor ?? null,
    opts.limit,
    opts.org ?? null,
  ) as unknown as DeliveryRow[];
}

export function getDelivery(db: DatabaseSync, id: number): DeliveryRow | undefined {
  return stmt(db, 'SELECT * FROM notify_deliveries WHERE id = ?').get(id) as DeliveryRow | undefined;
}
