import { STATES } from '@dayi/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Observation, type Segment, timeline } from '../src/derive/pure/timeline.ts';
import { type BookingSpan, overlapMs, reconcile, union } from '../src/figures/reconcile.ts';

const H = 3_600_000;
const DAY = Date.parse('2026-11-10T00:00:00+08:00');
const at = (hh: number, mm = 0) => DAY + hh * H + mm * 60_000;

function runningMsOf(segments: readonly Segment[], start: number, end: number): number {
  return overlapMs(segments, [{ start, end }], (s) => s.state === 'running');
}

describe('reconcile: the issue golden case', () => {
  // A day running 09:00–12:00 (evidence every minute, off after), bookings 09:00–11:00 (external)
  // and 14:00–16:00.
  const observations: Observation[] = [];
  for (let t = at(8); t < at(18); t += 60_000) {
    observations.push({ ts: t, state: t >= at(9) && t < at(12) ? 'running' : 'off' });
  }
  const window = { start: DAY, end: DAY + 24 * H };
  const now = DAY + 2 * 24 * H;
  const segments = timeline(observations, window, { offlineAfterMs: 5 * 60_000, now });
  const bookings: BookingSpan[] = [
    { id: 'b1', start: at(9), end: at(11), external: true },
    { id: 'b2', start: at(14), end: at(16), external: false },
  ];
  const r = reconcile({
    window,
    bookings,
    segments,
    runningMs: runningMsOf(segments, window.start, window.end),
    now,
  });

  it('booked 4 h, running inside 2 h, unbooked 1 h, noShows 1, external 2 h', () => {
    expect(r.bookedMs).toBe(4 * H);
    expect(r.bookedRunningMs).toBe(2 * H);
    expect(r.unbookedRunningMs).toBe(1 * H);
    expect(r.noShows).toBe(1);
    expect(r.externalServiceMs).toBe(2 * H);
    expect(r.bookings).toBe(2);
    expect(r.items.map((i) => [i.id, i.noShow, i.runningMs])).toEqual([
      ['b1', false, 2 * H],
      ['b2', true, 0],
    ]);
    expect(r.bookedCoveredMs).toBe(4 * H);
  });

  it('the order of the bookings and of the segments changes nothing', () => {
    const again = reconcile({
      window,
      bookings: [...bookings].reverse(),
      segments: [...segments].reverse(),
      runningMs: 3 * H,
      now,
    });
    expect(again).toEqual(r);
  });

  it('a booking not ended yet is not judged; under 10 % running is a no-show, 10 % is not', () => {
    const notEnded = reconcile({ window, bookings, segments, runningMs: 3 * H, now: at(15) });
    expect(notEnded.items.find((i) => i.id === 'b2')!.noShow).toBeNull();
    expect(notEnded.noShows).toBe(0);
    // 11:48–12:00 running inside a 12-minute-over-2-hours booking: exactly 10 % is not a no-show.
    const edge = reconcile({
      window,
      bookings: [{ id: 'e', start: at(11, 48), end: at(13, 48), external: false }],
      segments,
      runningMs: 3 * H,
      now,
    });
    expect(edge.items[0]!.runningMs).toBe(12 * 60_000);
    expect(edge.noShows).toBe(0);
  });

  it('overlapping bookings count once in booked and inside hours', () => {
    const o = reconcile({
      window,
      bookings: [
        { id: 'x', start: at(9), end: at(11), external: false },
        { id: 'y', start: at(10), end: at(12), external: true },
      ],
      segments,
      runningMs: 3 * H,
      now,
    });
    expect(o.bookedMs).toBe(3 * H);
    expect(o.bookedRunningMs).toBe(3 * H);
    expect(o.unbookedRunningMs).toBe(0);
    expect(o.externalServiceMs).toBe(2 * H);
  });

  it('a booking reaching into the window counts only inside it, and as a booking of the period it started in', () => {
    const o = reconcile({
      window,
      bookings: [{ id: 'z', start: DAY - 2 * H, end: at(10), external: false }],
      segments: timeline(
        observations,
        { start: DAY - 2 * H, end: window.end },
        { offlineAfterMs: 5 * 60_000, now },
      ),
      runningMs: 3 * H,
      now,
    });
    expect(o.bookedMs).toBe(10 * H);
    expect(o.bookedRunningMs).toBe(1 * H);
    expect(o.bookings).toBe(0);
    expect(o.items).toHaveLength(1);
  });
});

describe('reconcile: properties', () => {
  const base = DAY;
  const span = 3 * 24 * H;
  const obs = fc.record({
    ts: fc.integer({ min: base - H, max: base + span }),
    state: fc.constantFrom(...STATES),
  });
  const booking = fc
    .record({
      start: fc.integer({ min: base - 12 * H, max: base + span }),
      len: fc.integer({ min: 1, max: 30 * H }),
      external: fc.boolean(),
      n: fc.integer({ min: 0, max: 1_000_000 }),
    })
    .map((b): BookingSpan => ({ start: b.start, end: b.start + b.len, external: b.external, id: `b${b.n}` }));

  it('inside + unbooked = running; inside ≤ booked; external ≤ inside; noShows ≤ bookings; items cover the window', () => {
    fc.assert(
      fc.property(
        fc.array(obs, { maxLength: 60 }),
        fc.uniqueArray(booking, { maxLength: 8, selector: (b) => b.id }),
        fc.integer({ min: 0, max: 2 * 24 * H }),
        fc.integer({ min: base, max: base + 4 * span }),
        (observations, bookings, offset, now) => {
          const window = { start: base + offset, end: base + offset + 24 * H };
          const whole = { start: base - 48 * H, end: base + 5 * span };
          const segments = timeline(observations, whole, { offlineAfterMs: 10 * 60_000, now });
          const runningMs = runningMsOf(segments, window.start, window.end);
          const r = reconcile({ window, bookings, segments, runningMs, now });
          expect(r.bookedRunningMs + r.unbookedRunningMs).toBe(runningMs);
          expect(r.bookedRunningMs).toBeLessThanOrEqual(r.bookedMs);
          expect(r.externalServiceMs).toBeLessThanOrEqual(r.bookedRunningMs);
          expect(r.bookedCoveredMs).toBeLessThanOrEqual(r.bookedElapsedMs);
          expect(r.noShows).toBeLessThanOrEqual(r.bookings);
          expect(r.bookedMs).toBeLessThanOrEqual(window.end - window.start);
          // Booked time is the union: never more than the sum of the clipped bookings.
          const clippedSum = bookings.reduce(
            (s, b) => s + Math.max(0, Math.min(b.end, window.end) - Math.max(b.start, window.start)),
            0,
          );
          expect(r.bookedMs).toBeLessThanOrEqual(clippedSum);
          // Permuting the input changes nothing.
          const again = reconcile({ window, bookings: [...bookings].reverse(), segments, runningMs, now });
          expect(again).toEqual(r);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('union is sorted, disjoint and covers exactly the same points', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 30 }))),
        (pairs) => {
          const intervals = pairs.map(([s, l]) => ({ start: s, end: s + l }));
          const u = union(intervals);
          for (let i = 1; i < u.length; i++) expect(u[i]!.start).toBeGreaterThan(u[i - 1]!.end);
          for (let p = 0; p < 131; p++) {
            const inAny = intervals.some((i) => p >= i.start && p < i.end);
            const inUnion = u.some((i) => p >= i.start && p < i.end);
            expect(inUnion).toBe(inAny);
          }
        },
      ),
    );
  });
});
