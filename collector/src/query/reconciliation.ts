/**
 * Booked against actual hours, per instrument and per org: the shell around `figures/reconcile.ts`.
 * Running time inside bookings comes from the derived state segments of the booked spans (by event
 * time); the period's total running time is exactly `/usage`'s.
 */
import type { CollectorContext } from '../context.ts';
import { loadObservations, stmt } from '../derive/io/store.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { type Segment, timeline } from '../derive/pure/timeline.ts';
import { coverageOf, toHours } from '../derive/pure/usage.ts';
import { type Reconciliation, reconcile, union } from '../figures/reconcile.ts';
import { bookingsOverlapping, bookingsOverlappingAll, type StoredBooking } from './bookings.ts';
import { QueryError } from './errors.ts';
import { type Period, periodOf, periodTotals } from './period.ts';
import { instrumentExists } from './registry.ts';

export interface ReconciliationFigures {
  /** Hours booked in the period (overlapping bookings count once). */
  bookedHours: number;
  /** Running hours in the period (the same as `/usage`). */
  runningHours: number;
  /** Running hours inside bookings. */
  bookedRunningHours: number;
  /** Running hours outside every booking (unbooked use). */
  unbookedRunningHours: number;
  /** Running hours inside external bookings (对外服务机时). */
  externalServiceHours: number;
  /** Bookings starting in the period. */
  bookings: number;
  /** Of those, ended ones with under 10 % of their time running (预约未使用). */
  noShows: number;
  /** Share of the booked time so far with fresh evidence of the state (0..1): how far noShows can be trusted. */
  bookedCoverage: number;
}

export interface InstrumentReconciliation extends ReconciliationFigures {
  id: string;
  name: string | null;
  org: string | null;
  from: string;
  to: string;
  items: {
    id: string;
    start: string;
    end: string;
    user: string | null;
    org: string | null;
    external: boolean;
    bookedHours: number;
    runningHours: number;
    coverage: number;
    noShow: boolean | null;
  }[];
}

/** Segments over every booked span (whole bookings, up to now), from the stored observations. */
function bookedSegments(ctx: CollectorContext, id: string, bookings: readonly StoredBooking[]): Segment[] {
  const now = ctx.now();
  const { offlineAfter } = ctx.config;
  const out: Segment[] = [];
  for (const span of union(bookings.map((b) => ({ start: b.start, end: Math.min(b.end, now) })))) {
    const observations = loadObservations(ctx.db, id, span.start, span.end, offlineAfter);
    out.push(...timeline(observations, span, { offlineAfterMs: offlineAfter, now }));
  }
  return out;
}

function figures(r: Reconciliation, runningMs: number): ReconciliationFigures {
  return {
    bookedHours: toHours(r.bookedMs),
    runningHours: toHours(runningMs),
    bookedRunningHours: toHours(r.bookedRunningMs),
    unbookedRunningHours: toHours(r.unbookedRunningMs),
    externalServiceHours: toHours(r.externalServiceMs),
    bookings: r.bookings,
    noShows: r.noShows,
    bookedCoverage: coverageOf(r.bookedCoveredMs, r.bookedElapsedMs),
  };
}

function reconcileOne(
  ctx: CollectorContext,
  id: string,
  period: Period,
  bookings: readonly StoredBooking[],
  runningMs: number,
): Reconciliation {
  return reconcile({
    window: { start: period.start, end: period.end },
    bookings,
    segments: bookings.length > 0 ? bookedSegments(ctx, id, bookings) : [],
    runningMs,
    now: ctx.now(),
  });
}

interface RegistryInfo {
  id: string;
  name: string | null;
  org: string | null;
}

/** GET /v1/instruments/{id}/reconciliation. */
export function getReconciliation(
  ctx: CollectorContext,
  id: string,
  from: string,
  to: string,
): InstrumentReconciliation {
  const period = periodOf(ctx, from, to);
  if (!instrumentExists(ctx.db, id)) throw new QueryError('not_found', `instrument ${id} is not known`, 'id');
  const info = stmt(ctx.db, 'SELECT id, name, org FROM instruments WHERE id = ?').get(id) as
    | RegistryInfo
    | undefined;
  const bookings = bookingsOverlapping(ctx, id, period.start, period.end);
  const runningMs = periodTotals(ctx, period, [id]).get(id)!.runningMs;
  const r = reconcileOne(ctx, id, period, bookings, runningMs);
  const byId = new Map(bookings.map((b) => [b.id, b]));
  return {
    id,
    name: info?.name ?? null,
    org: info?.org ?? null,
    from,
    to,
    ...figures(r, runningMs),
    items: r.items.map((i) => {
      const b = byId.get(i.id)!;
      const elapsed = Math.max(0, Math.min(i.end, ctx.now()) - i.start);
      return {
        id: i.id,
        start: isoWithOffset(i.start, ctx.config.timezone),
        end: isoWithOffset(i.end, ctx.config.timezone),
        user: b.user,
        org: b.org,
        external: i.external,
        bookedHours: toHours(i.end - i.start),
        runningHours: toHours(i.runningMs),
        coverage: coverageOf(i.coveredMs, elapsed),
        noShow: i.noShow,
      };
    }),
  };
}

export interface OrgReconciliation extends ReconciliationFigures {
  org: string | null;
  instruments: number;
  items: (ReconciliationFigures & { id: string; name: string | null })[];
}

/** GET /v1/reconciliation: per org of the instruments' registry (one org with `org`). */
export function getOrgReconciliation(
  ctx: CollectorContext,
  from: string,
  to: string,
  org?: string,
): { from: string; to: string; groups: OrgReconciliation[] } {
  const period = periodOf(ctx, from, to);
  const instruments = stmt(
    ctx.db,
    `SELECT k.id, i.name, i.org FROM (SELECT id FROM instruments UNION SELECT instrument_id FROM instrument_status) k
       LEFT JOIN instruments i ON i.id = k.id
       WHERE ?1 IS NULL OR i.org = ?1 ORDER BY k.id`,
  ).all(org ?? null) as unknown as RegistryInfo[];
  const totals = periodTotals(
    ctx,
    period,
    instruments.map((i) => i.id),
  );
  const bookingsById = bookingsByInstrument(ctx, period);
  const groups = new Map<string | null, { items: OrgReconciliation['items']; sums: Sums }>();
  for (const inst of instruments) {
    const runningMs = totals.get(inst.id)?.runningMs ?? 0;
    const r = reconcileOne(ctx, inst.id, period, bookingsById.get(inst.id) ?? [], runningMs);
    let g = groups.get(inst.org);
    if (!g) {
      g = { items: [], sums: emptySums() };
      groups.set(inst.org, g);
    }
    g.items.push({ id: inst.id, name: inst.name, ...figures(r, runningMs) });
    addSums(g.sums, r, runningMs);
  }
  return {
    from,
    to,
    groups: [...groups.entries()]
      .sort(([a], [b]) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1))
      .map(([key, g]) => ({
        org: key,
        instruments: g.items.length,
        ...figures(g.sums.r, g.sums.runningMs),
        items: g.items,
      })),
  };
}

/** Every booking overlapping the period, by instrument (one range scan of the bookings by start). */
function bookingsByInstrument(ctx: CollectorContext, period: Period): Map<string, StoredBooking[]> {
  const bookingsById = new Map<string, StoredBooking[]>();
  for (const booking of bookingsOverlappingAll(ctx, period.start, period.end)) {
    const list = bookingsById.get(booking.instrumentId) ?? [];
    list.push(booking);
    bookingsById.set(booking.instrumentId, list);
  }
  return bookingsById;
}

/**
 * Booked and external service time (ms) of `from`..`to` for each of `ids`, exactly as
 * `GET /v1/instruments/{id}/reconciliation` computes them (0 for an instrument without bookings).
 * For the uptime report's columns; no length limit on the period.
 */
export function bookedTimes(
  ctx: CollectorContext,
  from: string,
  to: string,
  ids: readonly string[],
): Map<string, { bookedMs: number; externalServiceMs: number }> {
  const period = periodOf(ctx, from, to, Number.MAX_SAFE_INTEGER);
  const bookings = bookingsByInstrument(ctx, period);
  const out = new Map<string, { bookedMs: number; externalServiceMs: number }>();
  for (const id of ids) {
    const list = bookings.get(id);
    if (!list) {
      out.set(id, { bookedMs: 0, externalServiceMs: 0 });
      continue;
    }
    // Running time of the whole period only feeds unbooked time, which is not asked for here.
    const r = reconcileOne(ctx, id, period, list, 0);
    out.set(id, { bookedMs: r.bookedMs, externalServiceMs: r.externalServiceMs });
  }
  return out;
}

interface Sums {
  r: Reconciliation;
  runningMs: number;
}

function emptySums(): Sums {
  return {
    r: {
      bookedMs: 0,
      bookedRunningMs: 0,
      unbookedRunningMs: 0,
      externalServiceMs: 0,
      bookedCoveredMs: 0,
      bookedElapsedMs: 0,
      bookings: 0,
      noShows: 0,
      items: [],
    },
    runningMs: 0,
  };
}

function addSums(s: Sums, r: Reconciliation, runningMs: number): void {
  s.r.bookedMs += r.bookedMs;
  s.r.bookedRunningMs += r.bookedRunningMs;
  s.r.unbookedRunningMs += r.unbookedRunningMs;
  s.r.externalServiceMs += r.externalServiceMs;
  s.r.bookedCoveredMs += r.bookedCoveredMs;
  s.r.bookedElapsedMs += r.bookedElapsedMs;
  s.r.bookings += r.bookings;
  s.r.noShows += r.noShows;
  s.runningMs += runningMs;
}
