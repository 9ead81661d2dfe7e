import { STATES } from '@dayi/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dayBounds } from '../src/derive/pure/calendar.ts';
import { type Observation, timeline } from '../src/derive/pure/timeline.ts';
import { coverageOf, sumUsage, toHours, usageByDay } from '../src/derive/pure/usage.ts';
import { GOLDEN_CASES } from './golden/derive-cases.ts';

const MIN = 60_000;

/** Deterministic Fisher-Yates, so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('usageByDay golden cases', () => {
  for (const c of GOLDEN_CASES) {
    const opts = { timezone: c.timezone, offlineAfterMs: c.offlineAfterMs, now: Date.parse(c.now) };
    const expected = c.expected.map((d) => ({
      date: d.date,
      poweredMs: d.poweredMin * MIN,
      runningMs: d.runningMin * MIN,
      coveredMs: d.coveredMin * MIN,
      spanMs: d.spanMin * MIN,
    }));

    it(`${c.name}: exact figures per day`, () => {
      expect(usageByDay(c.observations, c.dates, opts)).toEqual(expected);
    });

    it(`${c.name}: the same figures in reverse and shuffled order`, () => {
      expect(usageByDay([...c.observations].reverse(), c.dates, opts)).toEqual(expected);
      for (const seed of [1, 2, 3]) {
        // Ties are decided by `order`; give every observation its input position as order first.
        const withOrder = c.observations.map((o, i) => ({ ...o, order: o.order ?? i }));
        expect(usageByDay(shuffled(withOrder, seed), c.dates, opts)).toEqual(expected);
      }
    });
  }

  it('a lunch-break day answers 9.00 powered and 8.00 running hours, coverage 0.4194', () => {
    const c = GOLDEN_CASES[0]!;
    const [day] = usageByDay(c.observations, ['2026-11-02'], {
      timezone: c.timezone,
      offlineAfterMs: c.offlineAfterMs,
      now: Date.parse(c.now),
    });
    expect(toHours(day!.poweredMs)).toBe(9);
    expect(toHours(day!.runningMs)).toBe(8);
    expect(coverageOf(day!.coveredMs, day!.spanMs)).toBe(0.4194);
  });

  it('period totals come from exact ms, not from summing rounded days', () => {
    // Three days of 20 s running each: 0.0056 h a day rounds to 0.01, but 60 s is 0.02 h, not 0.03.
    const obs: Observation[] = ['2026-11-01', '2026-11-02', '2026-11-03'].flatMap((d) => [
      { ts: Date.parse(`${d}T10:00:00Z`), state: 'running' as const },
      { ts: Date.parse(`${d}T10:00:20Z`), state: 'off' as const },
    ]);
    const days = usageByDay(obs, ['2026-11-01', '2026-11-02', '2026-11-03'], {
      timezone: 'UTC',
      offlineAfterMs: 60_000,
      now: Date.parse('2026-12-01T00:00:00Z'),
    });
    expect(days.map((d) => toHours(d.runningMs))).toEqual([0.01, 0.01, 0.01]);
    expect(toHours(sumUsage(days).runningMs)).toBe(0.02);
  });

  it('coverage is 0 for an empty span and a fraction otherwise', () => {
    expect(coverageOf(0, 0)).toBe(0);
    expect(coverageOf(1, 3)).toBe(0.3333);
    expect(coverageOf(5, 5)).toBe(1);
  });
});

describe('timeline', () => {
  it('fills a window without holes and merges equal neighbours', () => {
    const t0 = Date.parse('2026-11-02T10:00:00Z');
    const segs = timeline(
      [
        { ts: t0, state: 'running' },
        { ts: t0 + MIN, state: 'running' },
        { ts: t0 + 2 * MIN, state: 'off' },
      ],
      { start: t0 - MIN, end: t0 + 10 * MIN },
      { offlineAfterMs: 5 * MIN, now: t0 + 60 * MIN },
    );
    expect(segs).toEqual([
      { start: t0 - MIN, end: t0, state: 'unknown' },
      { start: t0, end: t0 + 2 * MIN, state: 'running' },
      { start: t0 + 2 * MIN, end: t0 + 7 * MIN, state: 'off' },
      { start: t0 + 7 * MIN, end: t0 + 10 * MIN, state: 'unknown' },
    ]);
  });

  it('an observation before the window still holds into it, but only while fresh', () => {
    const t0 = Date.parse('2026-11-02T10:00:00Z');
    const segs = timeline(
      [{ ts: t0 - 3 * MIN, state: 'idle' }],
      { start: t0, end: t0 + 10 * MIN },
      {
        offlineAfterMs: 5 * MIN,
        now: t0 + 60 * MIN,
      },
    );
    expect(segs).toEqual([
      { start: t0, end: t0 + 2 * MIN, state: 'idle' },
      { start: t0 + 2 * MIN, end: t0 + 10 * MIN, state: 'unknown' },
    ]);
  });
});

describe('usageByDay properties', () => {
  const base = Date.parse('2026-11-01T16:00:00Z'); // 2026-11-02 00:00 in Shanghai
  const dates = ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'];
  const observation = fc.record({
    ts: fc.integer({ min: base - 86_400_000, max: base + 3 * 86_400_000 }),
    state: fc.constantFrom(...STATES),
  });
  const observations = fc
    .array(observation, { maxLength: 60 })
    .map((list) => list.map((o, i) => ({ ...o, order: i })));
  const params = fc.record({
    offlineAfterMs: fc.integer({ min: 1_000, max: 6 * 3_600_000 }),
    now: fc.integer({ min: base - 86_400_000, max: base + 4 * 86_400_000 }),
    seed: fc.integer(),
  });

  it('shuffling observations never changes the result', () => {
    fc.assert(
      fc.property(observations, params, (obs, p) => {
        const opts = { timezone: 'Asia/Shanghai', offlineAfterMs: p.offlineAfterMs, now: p.now };
        expect(usageByDay(shuffled(obs, p.seed), dates, opts)).toEqual(usageByDay(obs, dates, opts));
      }),
    );
  });

  it('powered + off + unknown = span, running <= powered <= covered <= span', () => {
    fc.assert(
      fc.property(observations, params, (obs, p) => {
        const opts = { timezone: 'Asia/Shanghai', offlineAfterMs: p.offlineAfterMs, now: p.now };
        for (const d of usageByDay(obs, dates, opts)) {
          const { start, end } = dayBounds(d.date, opts.timezone);
          const segs = timeline(obs, { start, end }, opts);
          const offMs = segs.filter((s) => s.state === 'off').reduce((a, s) => a + s.end - s.start, 0);
          const unknownMs = segs
            .filter((s) => s.state === 'unknown')
            .reduce((a, s) => a + s.end - s.start, 0);
          expect(d.poweredMs + offMs + unknownMs).toBe(d.spanMs);
          expect(d.coveredMs + unknownMs).toBe(d.spanMs);
          expect(d.runningMs).toBeLessThanOrEqual(d.poweredMs);
          expect(d.poweredMs).toBeLessThanOrEqual(d.coveredMs);
          expect(d.spanMs).toBe(Math.max(0, Math.min(end, p.now) - start));
        }
      }),
    );
  });

  it('no state is counted at or after now', () => {
    fc.assert(
      fc.property(observations, params, (obs, p) => {
        const opts = { timezone: 'Asia/Shanghai', offlineAfterMs: p.offlineAfterMs, now: p.now };
        const segs = timeline(obs, { start: base - 86_400_000, end: base + 4 * 86_400_000 }, opts);
        for (const s of segs) expect(s.end).toBeLessThanOrEqual(p.now);
      }),
    );
  });
});
