import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, hoursOf } from '../src/calibrate/hours.ts';
import {
  durations,
  formatCsvSeries,
  MAX_GAP_MS,
  parseCsvSeries,
  parseTimestamp,
  Recorder,
  resample,
  type Sample,
  SeriesError,
} from '../src/calibrate/series.ts';

describe('CSV series (ts,value)', () => {
  it('reads ms, seconds and ISO 8601 times, with or without a header', () => {
    expect(parseTimestamp('1764380000000')).toBe(1764380000000);
    expect(parseTimestamp('1764380000')).toBe(1764380000000);
    expect(parseTimestamp('1764380000.5')).toBe(1764380000500);
    expect(parseTimestamp('2026-11-01T10:00:00+08:00')).toBe(Date.UTC(2026, 10, 1, 2));
    expect(parseTimestamp('2026-11-01 10:00:00')).toBe(Date.UTC(2026, 10, 1, 10));
    expect(parseTimestamp('2026-11-01T10:00:00.250Z')).toBe(Date.UTC(2026, 10, 1, 10, 0, 0, 250));
    expect(parseTimestamp('2026-11-01T10:00:00-0530')).toBe(Date.UTC(2026, 10, 1, 15, 30));
    expect(parseTimestamp('yesterday')).toBeNull();

    const plain = parseCsvSeries('1764380000000,0\n1764380001000,2.5\n');
    expect(plain.samples).toEqual([
      { ts: 1764380000000, value: 0 },
      { ts: 1764380001000, value: 2.5 },
    ]);
    const headed = parseCsvSeries('ts,current_a,power_w\r\n2026-11-01T10:00:00Z,0.1,20\r\n', 'power_w');
    expect(headed.samples).toEqual([{ ts: Date.UTC(2026, 10, 1, 10), value: 20 }]);
    expect(headed.column).toBe('power_w');
    // Without a column of that name, the second column.
    expect(parseCsvSeries('time;watts\n1764380000;7\n', 'power_w').samples[0]?.value).toBe(7);
  });

  it('skips comments, blank lines and empty values; sorts rows out of order', () => {
    const p = parseCsvSeries(
      '# exported by a meter\n\n1764380002,3\n1764380000,1\n1764380001,\n1764380003,NaN\n',
    );
    expect(p.samples.map((s) => s.value)).toEqual([1, 3]);
    expect(p.empty).toBe(2);
    expect(p.unordered).toBe(1);
  });

  it('names the line of anything that is not a time and a number', () => {
    expect(() => parseCsvSeries('ts,power_w\n1764380000,1\n1764380001,abc\n')).toThrow(
      new SeriesError('line 3: value "abc" is not a number'),
    );
    expect(() => parseCsvSeries('1764380000,1\nnoon,2\n')).toThrow(/line 2: "noon" is not a time/);
    expect(() => parseCsvSeries('1764380000,1\n1764380001\n')).toThrow(/line 2: no value in column 2/);
  });

  it('reads back what it writes, and never throws anything but a SeriesError (property)', () => {
    const sample = fc.record({
      ts: fc.integer({ min: 1_000_000_000_000, max: 4_000_000_000_000 }),
      value: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 50 }), (samples) => {
        const sorted = [...samples].sort((a, b) => a.ts - b.ts);
        const back = parseCsvSeries(formatCsvSeries(sorted, 'power_w'), 'power_w').samples;
        expect(back).toEqual(sorted.map((s) => ({ ts: s.ts, value: s.value === 0 ? 0 : s.value })));
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseCsvSeries(text);
        } catch (err) {
          expect(err).toBeInstanceOf(SeriesError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('resampling and time weights', () => {
  const s = (pairs: [number, number][]): Sample[] => pairs.map(([ts, value]) => ({ ts, value }));

  it('holds the last reading between slow samples and averages fast ones, leaving long gaps empty', () => {
    expect(
      resample(
        s([
          [0, 5],
          [3000, 7],
        ]),
        1000,
      ),
    ).toEqual(
      s([
        [0, 5],
        [1000, 5],
        [2000, 5],
        [3000, 7],
      ]),
    );
    expect(
      resample(
        s([
          [100, 2],
          [400, 4],
          [900, 6],
          [1500, 8],
        ]),
        1000,
      ),
    ).toEqual(
      s([
        [1000, 4],
        [2000, 8],
      ]),
    );
    const gap = resample(
      s([
        [0, 1],
        [MAX_GAP_MS + 2000, 1],
      ]),
      1000,
    );
    expect(gap.map((x) => x.ts)).toEqual([0, MAX_GAP_MS + 2000]);
  });

  it('weighs a sample by the time until the next one, not across a long gap', () => {
    expect(
      durations(
        s([
          [0, 1],
          [4000, 1],
          [5000, 1],
          [5000 + MAX_GAP_MS + 1, 1],
        ]),
      ),
    ).toEqual([4000, 1000, 0, 4000]);
  });
});

describe('a live recording bounded in memory', () => {
  it('keeps every reading up to its bound, then means over 1 s, 2 s… buckets', () => {
    const r = new Recorder(1000);
    for (let i = 0; i < 1000; i++) r.add(i * 100, i % 2 ? 10 : 0);
    expect(r.length).toBe(1000);
    expect(r.resolutionMs).toBe(0);
    r.add(100_000, 10);
    // 1001 readings at 10 Hz: merged into 1 s buckets of ten readings, mean 5.
    expect(r.resolutionMs).toBe(1000);
    expect(r.length).toBe(101);
    expect(r.samples()[0]).toEqual({ ts: 0, value: 5 });
    for (let i = 1; i <= 5000; i++) r.add(100_000 + i * 100, 100);
    expect(r.seen).toBe(6001);
    expect(r.length).toBeLessThanOrEqual(1000);
    const last = r.samples().at(-1)!;
    expect(last.value).toBe(100);
  });
});

describe('hours a state block gives', () => {
  const t = { standby: 5, idle: 50, running: 50 };
  const series = (spec: [value: number, seconds: number][], stepMs = 1000): Sample[] => {
    const out: Sample[] = [];
    let ts = 0;
    for (const [value, seconds] of spec)
      for (let i = 0; i < (seconds * 1000) / stepMs; i++) {
        out.push({ ts, value });
        ts += stepMs;
      }
    return out;
  };

  it('counts each state from when it began, through the agent classifier', () => {
    const h = hoursOf(
      series([
        [0, 3600],
        [100, 1800],
        [0, 1800],
      ]),
      t,
    );
    expect(h.runningHours).toBeCloseTo(0.5, 2);
    expect(h.poweredHours).toBeCloseTo(0.5, 2);
    expect(h.byState.off).toBeCloseTo(1.5, 2);
    expect(h.changes).toBe(2);
  });

  it('a spike shorter than the minimum dwell is not running', () => {
    const h = hoursOf(
      series([
        [0, 600],
        [1000, 2],
        [0, 600],
      ]),
      t,
    );
    expect(h.runningHours).toBe(0);
    expect(h.changes).toBe(0);
  });

  it('dither across a threshold flaps without hysteresis and minimum dwell, not with them', () => {
    // A soft-off alternating 4 W and 6 W every 40 s, around a standby threshold of 5 W.
    const dither: [number, number][] = [];
    for (let i = 0; i < 90; i++) dither.push([i % 2 ? 6 : 4, 40]);
    const flappy = hoursOf(series(dither), t, { ...DEFAULT_SETTINGS, hysteresis: 0, minDwell: 0 });
    expect(flappy.changes).toBeGreaterThan(80);
    const t2 = { standby: 8, idle: 50, running: 50 };
    expect(hoursOf(series(dither), t2).changes).toBe(0);
  });
});
