/**
 * The platform's bookings (预约), pushed in batches by `PUT /v1/bookings`: upserted by booking id,
 * each row checked on its own so that valid rows land and invalid ones are named.
 */
import { instrumentId } from '@dayi/protocols';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { inTransaction, stmt } from '../derive/io/store.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { instrumentExists } from './registry.ts';

/** Longest booking accepted; also how far back a period's query looks for bookings reaching into it. */
export const MAX_BOOKING_MS = 366 * 86_400_000;
/** Most rows one PUT may carry. */
export const MAX_BOOKINGS_PER_BATCH = 10_000;

const isoTime = z.iso
  .datetime({
    offset: true,
    message: 'must be an ISO 8601 time with an offset, e.g. 2026-11-10T09:00:00+08:00',
  })
  .describe('ISO 8601 time with offset (or Z)');

/** One booking as the platform sends it. */
export const bookingSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(128)
    .describe('the platform booking id; a later PUT with the same id replaces it'),
  instrumentId: instrumentId.describe('the instrument booked (must be known to the collector)'),
  start: isoTime,
  end: isoTime.describe('end of the booking, after start'),
  user: z.string().max(200).nullable().optional().describe('who booked'),
  org: z.string().max(200).nullable().optional().describe("the booking user's unit"),
  external: z
    .boolean()
    .default(false)
    .describe(
      'booked by a user outside the owning unit: its running time is external service time (对外服务机时)',
    ),
});
export type BookingInput = z.input<typeof bookingSchema>;

export interface BookingRowError {
  /** Position of the row in the batch, from 0. */
  index: number;
  /** The row's id when it had a usable one. */
  id: string | null;
  /** The field at fault (`start`, `instrumentId`, …; `(row)` for the row as a whole). */
  field: string;
  message: string;
}

export interface BookingsUpsertResult {
  /** Rows written (created + updated). */
  upserted: number;
  created: number;
  updated: number;
  /** Rows refused; nothing of them was written. */
  rejected: number;
  errors: BookingRowError[];
}

/** Upserts every valid row of `rows` in one transaction; invalid rows are reported, not written. */
/** `visible`: for an org-scoped caller, whether it may write bookings of that instrument. */
export function upsertBookings(
  ctx: CollectorContext,
  rows: readonly unknown[],
  visible?: (instrumentId: string) => boolean,
): BookingsUpsertResult {
  const result: BookingsUpsertResult = { upserted: 0, created: 0, updated: 0, rejected: 0, errors: [] };
  const seen = new Map<string, number>();
  const valid: {
    index: number;
    id: string;
    instrumentId: string;
    start: number;
    end: number;
    user: string | null;
    org: string | null;
    external: boolean;
  }[] = [];
  for (const [index, row] of rows.entries()) {
    checkRow(row, index);
  }
  function checkRow(row: unknown, index: number): void {
    const rawId =
      row && typeof row === 'object' && typeof (row as { id?: unknown }).id === 'string'
        ? ((row as { id: string }).id as string)
        : null;
    const fail = (field: string, message: string) => {
      result.errors.push({ index, id: rawId, field, message });
    };
    const parsed = bookingSchema.safeParse(row);
    if (!parsed.success) {
      const byField = new Map<string, string>();
      for (const issue of parsed.error.issues) {
        const fields =
          issue.code === 'unrecognized_keys'
            ? issue.keys.map((k) => [...issue.path, k].join('.'))
            : [issue.path.join('.') || '(row)'];
        for (const field of fields) {
          if (!byField.has(field))
            byField.set(field, issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message);
        }
      }
      for (const [field, message] of byField) fail(field, message);
      return;
    }
    const b = parsed.data;
    const start = Date.parse(b.start);
    const end = Date.parse(b.end);
    if (end <= start) {
      fail('end', `must be after start (${b.start})`);
      return;
    }
    if (end - start > MAX_BOOKING_MS) {
      fail('end', 'a booking may last at most 366 days');
      return;
    }
    const earlier = seen.get(b.id);
    if (earlier !== undefined) {
      fail('id', `duplicate of row ${earlier} in this batch`);
      return;
    }
    if (!instrumentExists(ctx.db, b.instrumentId) || (visible && !visible(b.instrumentId))) {
      fail('instrumentId', `no instrument ${JSON.stringify(b.instrumentId)} in the registry`);
      return;
    }
    if (visible) {
      const before = getBooking(ctx, b.id);
      if (before && !visible(before.instrumentId)) {
        fail('id', 'is the id of a booking this API key may not change (an instrument of another org)');
        return;
      }
    }
    seen.set(b.id, index);
    valid.push({
      index,
      id: b.id,
      instrumentId: b.instrumentId,
      start,
      end,
      user: b.user ?? null,
      org: b.org ?? null,
      external: b.external,
    });
  }
  result.rejected = new Set(result.errors.map((e) => e.index)).size;
  if (valid.length === 0) return result;
  const now = ctx.now();
  inTransaction(ctx.db, () => {
    const exists = stmt(ctx.db, 'SELECT 1 FROM bookings WHERE id = ?');
    const upsert = stmt(
      ctx.db,
      `INSERT INTO bookings (id, instrument_id, start_ms, end_ms, user, org, external, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET instrument_id = excluded.instrument_id, start_ms = excluded.start_ms,
           end_ms = excluded.end_ms, user = excluded.user, org = excluded.org, external = excluded.external,
           updated_at = excluded.updated_at`,
    );
    for (const b of valid) {
      if (exists.get(b.id) === undefined) result.created++;
      else result.updated++;
      upsert.run(b.id, b.instrumentId, b.start, b.end, b.user, b.org, b.external ? 1 : 0, now);
    }
  });
  result.upserted = result.created + result.updated;
  return result;
}

/** A stored booking, as `reconcile` and the API use it (times in ms). */
export interface StoredBooking {
  id: string;
  instrumentId: string;
  start: number;
  end: number;
  user: string | null;
  org: string | null;
  external: boolean;
  updatedAt: number;
}

interface BookingRow {
  id: string;
  instrument_id: string;
  start_ms: number;
  end_ms: number;
  user: string | null;
  org: string | null;
  external: number;
  updated_at: number;
}

function fromRow(r: BookingRow): StoredBooking {
  return {
    id: r.id,
    instrumentId: r.instrument_id,
    start: r.start_ms,
    end: r.end_ms,
    user: r.user,
    org: r.org,
    external: r.external === 1,
    updatedAt: r.updated_at,
  };
}

/** Bookings of one instrument overlapping [start, end), by start. */
export function bookingsOverlapping(
  ctx: CollectorContext,
  instrument: string,
  start: number,
  end: number,
): StoredBooking[] {
  const rows = stmt(
    ctx.db,
    `SELECT * FROM bookings WHERE instrument_id = ? AND start_ms < ? AND start_ms > ? AND end_ms > ?
       ORDER BY start_ms, id`,
  ).all(instrument, end, start - MAX_BOOKING_MS - 1, start) as unknown as BookingRow[];
  return rows.map(fromRow);
}

/** Bookings of every instrument overlapping [start, end), by instrument and start. */
export function bookingsOverlappingAll(ctx: CollectorContext, start: number, end: number): StoredBooking[] {
  const rows = stmt(
    ctx.db,
    `SELECT * FROM bookings WHERE start_ms < ? AND start_ms > ? AND end_ms > ?
       ORDER BY instrument_id, start_ms, id`,
  ).all(end, start - MAX_BOOKING_MS - 1, start) as unknown as BookingRow[];
  return rows.map(fromRow);
}

/** Removes one booking (cancelled on the platform); false when there was none. */
export function getBooking(ctx: CollectorContext, id: string): StoredBooking | null {
  const row = stmt(ctx.db, 'SELECT * FROM bookings WHERE id = ?').get(id) as BookingRow | undefined;
  return row ? fromRow(row) : null;
}

export function deleteBooking(ctx: CollectorContext, id: string): boolean {
  return Number(stmt(ctx.db, 'DELETE FROM bookings WHERE id = ?').run(id).changes) > 0;
}

/** A booking as the API answers it: times ISO 8601 with the collector's offset. */
export function bookingJson(ctx: CollectorContext, b: StoredBooking) {
  const tz = ctx.config.timezone;
  return {
    id: b.id,
    instrumentId: b.instrumentId,
    start: isoWithOffset(b.start, tz),
    end: isoWithOffset(b.end, tz),
    user: b.user,
    org: b.org,
    external: b.external,
    updatedAt: isoWithOffset(b.updatedAt, tz),
  };
}
