import type { Segment } from '../derive/pure/timeline.ts';

/**
 * Booked against actual hours (对外服务机时 included), a pure function of the bookings and the
 * derived state segments; no I/O, no clock of its own.
 */

/** A booking as reconciliation needs it: [start, end) in ms UTC. */
export interface BookingSpan {
  id: string;
  start: number;
  end: number;
  /** Booked by a user outside the owning unit: its running time is external service time. */
  external: boolean;
}

export interface ReconcileInput {
  /** The period, [start, end) ms UTC. */
  window: { start: number; end: number };
  /** Every booking that overlaps the window, whole (not clipped). */
  bookings: readonly BookingSpan[];
  /**
   * Derived states (timeline segments) covering at least every booking's span up to `now`;
   * outside the bookings they are not read. Gap-free, sorted, non-overlapping, as `timeline` makes them.
   */
  segments: readonly Segment[];
  /** Running time of the whole window (the usage figure, exactly as `/usage` answers it). */
  runningMs: number;
  now: number;
}

/** Below this share of its time running, an ended booking is a no-show (预约未使用). */
export const NO_SHOW_SHARE = 0.1;

export interface BookingFigures {
  id: string;
  start: number;
  end: number;
  external: boolean;
  /** Running and known time inside the whole booking (up to now). */
  runningMs: number;
  coveredMs: number;
  /** null while the booking has not ended: it cannot be judged yet. */
  noShow: boolean | null;
}

export interface Reconciliation {
  /** Time booked inside the window: the union of the bookings (overlaps count once). */
  bookedMs: number;
  /** Running time inside that union. */
  bookedRunningMs: number;
  /** Running time outside every booking (unbooked use): runningMs − bookedRunningMs. */
  unbookedRunningMs: number;
  /** Running time inside the union of the external bookings (对外服务机时). */
  externalServiceMs: number;
  /** Booked time (inside the window, up to now) with fresh evidence of the state. */
  bookedCoveredMs: number;
  /** Booked time inside the window that has already passed (the span coverage is measured on). */
  bookedElapsedMs: number;
  /** Bookings starting inside the window. */
  bookings: number;
  /** Bookings starting inside the window, ended, with under 10 % of their time running. */
  noShows: number;
  /** Each booking overlapping the window, by start. */
  items: BookingFigures[];
}

interface Interval {
  start: number;
  end: number;
}

/** Sorted, merged union of intervals (empty ones dropped). */
export function union(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ start: i.start, end: i.end });
  }
  return out;
}

function clip(intervals: readonly Interval[], window: Interval): Interval[] {
  return intervals
    .map((i) => ({ start: Math.max(i.start, window.start), end: Math.min(i.end, window.end) }))
    .filter((i) => i.end > i.start);
}

function totalMs(intervals: readonly Interval[]): number {
  let sum = 0;
  for (const i of intervals) sum += i.end - i.start;
  return sum;
}

/** Time of the segments accepted by `keep` that lies inside the (sorted, disjoint) intervals. */
export function overlapMs(
  segments: readonly Segment[],
  intervals: readonly Interval[],
  keep: (s: Segment) => boolean,
): number {
  let sum = 0;
  let j = 0;
  for (const seg of segments) {
    if (!keep(seg)) continue;
    while (j < intervals.length && intervals[j]!.end <= seg.start) j++;
    for (let k = j; k < intervals.length && intervals[k]!.start < seg.end; k++) {
      const iv = intervals[k]!;
      sum += Math.max(0, Math.min(seg.end, iv.end) - Math.max(seg.start, iv.start));
    }
  }
  return sum;
}

const isRunning = (s: Segment) => s.state === 'running';
const isKnown = (s: Segment) => s.state !== 'unknown';

/** Booked versus actual for one instrument over one window. */
export function reconcile(input: ReconcileInput): Reconciliation {
  const { window, now } = input;
  const segments = [...input.segments].sort((a, b) => a.start - b.start);
  const booked = union(clip(input.bookings, window));
  const externalBooked = union(
    clip(
      input.bookings.filter((b) => b.external),
      window,
    ),
  );
  const elapsed = clip(booked, { start: window.start, end: Math.min(window.end, now) });
  const bookedRunningMs = overlapMs(segments, booked, isRunning);
  const items = [...input.bookings]
    .filter((b) => b.end > window.start && b.start < window.end && b.end > b.start)
    .sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((b): BookingFigures => {
      const span = [{ start: b.start, end: Math.min(b.end, now) }].filter((i) => i.end > i.start);
      const runningMs = overlapMs(segments, span, isRunning);
      return {
        id: b.id,
        start: b.start,
        end: b.end,
        external: b.external,
        runningMs,
        coveredMs: overlapMs(segments, span, isKnown),
        noShow: b.end <= now ? runningMs < NO_SHOW_SHARE * (b.end - b.start) : null,
      };
    });
  const startsInside = items.filter((i) => i.start >= window.start && i.start < window.end);
  return {
    bookedMs: totalMs(booked),
    bookedRunningMs,
    unbookedRunningMs: Math.max(0, input.runningMs - bookedRunningMs),
    externalServiceMs: overlapMs(segments, externalBooked, isRunning),
    bookedCoveredMs: overlapMs(segments, elapsed, isKnown),
    bookedElapsedMs: totalMs(elapsed),
    bookings: startsInside.length,
    noShows: startsInside.filter((i) => i.noShow === true).length,
    items,
  };
}
