import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  analyzeSeries,
  chooseLevels,
  fmt,
  niceBetween,
  quantumOf,
  resolveChoice,
} from '../src/calibrate/analyze.ts';
import { DEFAULT_SETTINGS, hoursOf } from '../src/calibrate/hours.ts';
import { resample, type Sample } from '../src/calibrate/series.ts';

/** A seeded generator, so synthetic recordings are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Segment = [value: (i: number, r: () => number) => number, seconds: number];

/** A recording sampled every `stepMs`, made of segments; values rounded to the meter's `step`. */
function recording(segments: Segment[], stepMs = 1000, step = 0, seed = 7): Sample[] {
  const r = rng(seed);
  const out: Sample[] = [];
  let ts = 1_700_000_000_000;
  for (const [value, seconds] of segments) {
    const n = Math.round((seconds * 1000) / stepMs);
    for (let i = 0; i < n; i++) {
      const v = value((i * stepMs) / 1000, r);
      out.push({ ts, value: step > 0 ? Math.round(v / step) * step : v });
      ts += stepMs;
    }
  }
  return out;
}

const steady =
  (level: number, noise = 0.03) =>
  (_: number, r: () => number) =>
    level * (1 + (r() * 2 - 1) * noise);
/** A compressor: an inrush of `peak` for the first `inrushS` seconds, then `level`. */
const compressor =
  (level: number, peak: number, inrushS = 1.5) =>
  (t: number, r: () => number) =>
    t < inrushS ? peak : level * (1 + (r() * 2 - 1) * 0.05) + 60 * Math.exp(-t / 120);
/** Dither between two neighbouring meter steps, `a` and `b`, switching every few readings. */
const dither = (a: number, b: number) => (_: number, r: () => number) => (r() < 0.5 ? a : b);

/** A freezer day: off phases at 0/2 W dither, compressor runs of 8 min with 1.3 kW inrush. */
function freezerDay(stepMs: number): Sample[] {
  const segs: Segment[] = [];
  for (let k = 0; k < 20; k++) {
    segs.push([dither(0, 2), 3000]);
    segs.push([compressor(160, 1300), 480]);
  }
  return recording(segs, stepMs, 2);
}

describe('levels by time, with the minimum dwell', () => {
  it('a compressor’s inrush is not running; its real draw is, at 4 s sampling and at 1 Hz alike', () => {
    const at4s = freezerDay(4000);
    const c = analyzeSeries(at4s, { signal: 'power_w' });
    expect(c.verdict).toBe('levels');
    expect(c.levels.map((l) => (l.offLike ? 'off' : 'on'))).toEqual(['off', 'on']);
    const s = c.suggestion!;
    expect(s.thresholds.running).toBeLessThan(150);
    expect(s.thresholds.standby).toBeGreaterThan(2);
    // 20 runs of 8 min: 2.67 h of compressor.
    expect(s.hours.runningHours).toBeGreaterThan(2.6);
    expect(s.hours.runningHours).toBeLessThan(2.75);
    expect(s.hours.changes).toBe(39);
    expect(c.transients[0]?.high).toBe(1300);
    expect(c.explanation.join('\n')).toMatch(
      /Not a level: peaks up to 1\.3 kW .*shorter than the minimum dwell/,
    );

    const at1Hz = analyzeSeries(resample(at4s, 1000), { signal: 'power_w' });
    expect(at1Hz.suggestion!.thresholds).toEqual(s.thresholds);
    expect(at1Hz.suggestion!.hysteresis).toBe(s.hysteresis);
    // Sampled at 1 Hz from the start (other readings, same appliance): the same answer.
    const native1Hz = analyzeSeries(freezerDay(1000), { signal: 'power_w' });
    expect(native1Hz.suggestion!.thresholds).toEqual(s.thresholds);
  });

  it('a level that never lasts the minimum dwell is not a state, whatever its sample count', () => {
    // 7500 one-second readings of 2 kW, spread as 15 s bursts: many samples, never 30 s.
    const segs: Segment[] = [];
    for (let k = 0; k < 500; k++) segs.push([steady(0, 0), 100], [steady(2000), 15]);
    segs.push([steady(150), 600]);
    const c = analyzeSeries(recording(segs), { signal: 'power_w' });
    expect(c.levels.map((l) => Math.round(l.median))).toEqual([0, 150]);
    expect(c.transients[0]?.count).toBe(500);
  });

  it('the minimum dwell and window are the classifier’s: a longer dwell drops a shorter level', () => {
    const segs: Segment[] = [];
    for (let k = 0; k < 30; k++) segs.push([steady(0, 0), 200], [steady(500), 45], [steady(80), 300]);
    const rec = recording(segs);
    expect(analyzeSeries(rec, { signal: 'power_w' }).levels).toHaveLength(3);
    const slow = analyzeSeries(rec, { signal: 'power_w', settings: { minDwell: 60_000 } });
    expect(slow.levels).toHaveLength(2);
    expect(slow.settings.minDwell).toBe(60_000);
  });
});

describe('meter quantisation and hysteresis', () => {
  it('0/2 W and 2/4 W dither are one level each; no threshold falls inside them', () => {
    // A PC: soft-off alternating 2 W / 4 W, on at 100-150 W, then unplugged at 0 W.
    const rec = recording(
      [
        [dither(2, 4), 10 * 3600],
        [steady(140, 0.05), 6 * 3600],
        [steady(105, 0.05), 4 * 3600],
        [dither(2, 4), 3 * 3600],
      ],
      2000,
      2,
    );
    const c = analyzeSeries(rec, { signal: 'power_w' });
    expect(c.quantum).toBe(2);
    const soft = c.levels[0]!;
    expect(soft.low).toBeGreaterThanOrEqual(2);
    expect(soft.high).toBeLessThanOrEqual(4);
    const s = c.suggestion!;
    expect(s.thresholds.standby * (1 - s.hysteresis)).toBeGreaterThan(4);
    // Off, on, off: two state changes in the day, not one per dither.
    expect(s.hours.changes).toBeLessThanOrEqual(3);
    expect(s.hours.poweredHours).toBeCloseTo(10, 1);
    expect(c.explanation.join('\n')).toMatch(
      /steps of 2 W: readings alternating between neighbouring steps are one level/,
    );
    // Without hysteresis and dwell, a threshold at 3 W would flap all day long.
    const flappy = hoursOf(
      rec,
      { standby: 3, idle: 50, running: 50 },
      { ...DEFAULT_SETTINGS, hysteresis: 0, minDwell: 0, window: 0 },
    );
    expect(flappy.changes).toBeGreaterThan(1000);
  });

  it('estimates the meter step from values held for a while, and none for continuous readings', () => {
    expect(quantumOf(Array.from({ length: 400 }, (_, i) => [0, 2, 4, 6, 150, 152][i % 6]!))).toBe(2);
    expect(quantumOf(Array.from({ length: 400 }, (_, i) => 100 + i * 0.0137))).toBe(0);
  });

  it('hysteresis is half the room between neighbouring levels, within 0.05-0.5', () => {
    const wide = analyzeSeries(
      recording([
        [steady(0, 0), 3600],
        [steady(1000), 3600],
      ]),
      { signal: 'power_w' },
    );
    expect(wide.suggestion!.hysteresis).toBeLessThanOrEqual(0.5);
    expect(wide.suggestion!.hysteresis).toBeGreaterThan(0.4);
    const close = analyzeSeries(
      recording([
        [steady(0, 0), 3600],
        [steady(100, 0.02), 3600],
        [steady(160, 0.02), 3600],
      ]),
      { signal: 'power_w' },
    );
    const s = close.suggestion!;
    expect(s.hysteresis).toBeLessThan(0.2);
    expect(s.hysteresis).toBeGreaterThanOrEqual(0.05);
    // The running threshold between 100 and 160 W, with room for the hysteresis both ways.
    expect(s.thresholds.running * (1 - s.hysteresis)).toBeGreaterThan(102);
    expect(s.thresholds.running * (1 + s.hysteresis)).toBeLessThanOrEqual(157);
  });
});

describe('standby above zero and above the noise floor', () => {
  it('with no off readings, standby starts at half the lowest level, never 0', () => {
    const c = analyzeSeries(
      recording([
        [steady(15), 3600],
        [steady(900), 3600],
      ]),
      { signal: 'power_w' },
    );
    const t = c.suggestion!.thresholds;
    expect(t.standby).toBeGreaterThan(5);
    expect(t.standby).toBeLessThanOrEqual(7.5);
    expect(c.explanation.join('\n')).toMatch(/No off level was recorded/);
  });

  it('standby clears the off level’s noise, and a few watts are off', () => {
    const c = analyzeSeries(
      recording(
        [
          [dither(4, 6), 3600],
          [steady(230), 3600],
          [dither(4, 6), 3600],
        ],
        1000,
        2,
      ),
      { signal: 'power_w' },
    );
    const s = c.suggestion!;
    expect(s.roles).toEqual(['off', 'running']);
    expect(s.thresholds.standby * (1 - s.hysteresis)).toBeGreaterThan(6);
    expect(c.advice.join('\n')).toMatch(/Level 1 \(.*\) is counted as off.*--powered-from 1/);
    // The technician's choice: the 4-6 W level is standing by, not off.
    const chosen = chooseLevels(
      c,
      recording(
        [
          [dither(4, 6), 3600],
          [steady(230), 3600],
          [dither(4, 6), 3600],
        ],
        1000,
        2,
      ),
      undefined,
      { level: 1 },
    );
    expect(chosen.suggestion!.roles).toEqual(['standby', 'running']);
    expect(chosen.suggestion!.thresholds.standby).toBeGreaterThan(0);
    expect(chosen.suggestion!.hours.poweredHours).toBeCloseTo(3, 1);
  });
});

describe('which levels are running', () => {
  // A microscope: off, stage and electronics at 300 W, beam at 1.2 kW.
  const rec = recording([
    [steady(0, 0), 3600],
    [steady(300), 2 * 3600],
    [steady(1200), 3600],
    [steady(300), 3600],
    [steady(0, 0), 3600],
  ]);

  it('by default the highest level, with the hours every other choice would give', () => {
    const c = analyzeSeries(rec, { signal: 'power_w' });
    const s = c.suggestion!;
    expect(s.roles).toEqual(['off', 'idle', 'running']);
    expect(s.chosen).toBe(false);
    expect(s.hours.runningHours).toBeCloseTo(1, 1);
    expect(s.hours.poweredHours).toBeCloseTo(4, 1);
    expect(c.options.map((o) => [o.level, Math.round(o.runningHours)])).toEqual([
      [2, 4],
      [3, 1],
    ]);
    expect(c.advice.join('\n')).toMatch(
      /Which levels are work cannot be told from power alone.*--running-from N/,
    );
  });

  it('--running-from a level number or a value', () => {
    const c = analyzeSeries(rec, { signal: 'power_w' });
    const byLevel = chooseLevels(c, rec, { level: 2 });
    expect(byLevel.suggestion!.roles).toEqual(['off', 'running', 'running']);
    expect(byLevel.suggestion!.hours.runningHours).toBeCloseTo(4, 1);
    expect(byLevel.advice.join('\n')).not.toMatch(/Which levels are work/);
    // A value in a gap: the level above it; inside a level: that value is the threshold.
    expect(chooseLevels(c, rec, { value: 100 }).suggestion!.runningFrom).toBe(2);
    const inside = chooseLevels(c, rec, { value: 300 });
    expect(inside.suggestion!.thresholds.running).toBe(300);
    expect(resolveChoice(c.levels, { level: 9 }, 'W')).toMatch(/no level 9: the levels found are 1 to 3/);
    expect(resolveChoice(c.levels, { value: 5000 }, 'W')).toMatch(/no level reaches 5 kW/);
    // Asked for in the analysis directly, as --running-from does.
    expect(analyzeSeries(rec, { signal: 'power_w', runningFrom: { level: 2 } }).suggestion!.chosen).toBe(
      true,
    );
  });
});

describe('when the data cannot decide', () => {
  it('one level only: no thresholds, and what to record instead', () => {
    const c = analyzeSeries(recording([[dither(9, 11), 24 * 3600]], 2000, 2), { signal: 'power_w' });
    expect(c.verdict).toBe('one_level');
    expect(c.suggestion).toBeUndefined();
    expect(c.advice.join('\n')).toMatch(
      /stayed at one level.*no threshold can be told[\s\S]*Record again across a full cycle/,
    );
  });

  it('only a few watts: the instrument was off', () => {
    const c = analyzeSeries(
      recording(
        [
          [dither(0, 2), 3600],
          [steady(5, 0), 3600],
        ],
        1000,
        1,
      ),
      { signal: 'power_w' },
    );
    expect(c.verdict).toBe('no_powered_level');
    expect(c.advice.join('\n')).toMatch(
      /never stayed above a few W[\s\S]*Record again while the instrument is switched on/,
    );
  });

  it('a running level close to the minimum dwell is named as a possible transient', () => {
    const segs: Segment[] = [[steady(0, 0), 3600]];
    for (let k = 0; k < 3; k++) segs.push([steady(1400), 50], [steady(0, 0), 3600]);
    const c = analyzeSeries(recording(segs), { signal: 'power_w' });
    expect(c.levels.at(-1)!.brief).toBe(true);
    expect(c.advice.join('\n')).toMatch(
      /Level 2 \(.*\) lasted at most \d+ s at a time \(3 times\): close to the minimum dwell/,
    );
  });

  it('too short a recording', () => {
    const c = analyzeSeries(recording([[steady(100), 80]]), { signal: 'power_w' });
    expect(c.verdict).toBe('too_few_samples');
    expect(c.advice[0]).toContain('at least 90 s of readings are needed (3 minimum dwells)');
    expect(analyzeSeries([], { signal: 'power_w' })).toMatchObject({
      verdict: 'too_few_samples',
      samples: 0,
    });
  });
});

describe('robustness', () => {
  it('drops non-finite values and counts negative ones as zero', () => {
    const rec = recording([
      [steady(0, 0), 600],
      [steady(500), 600],
    ]);
    rec.push({ ts: rec.at(-1)!.ts + 1000, value: Number.NaN }, { ts: rec.at(-1)!.ts + 2000, value: -3 });
    const c = analyzeSeries(rec, { signal: 'power_w' });
    expect(c).toMatchObject({ dropped: 1, negative: 1, verdict: 'levels' });
  });

  it('reads in amperes with the unit’s few-amperes ceiling', () => {
    const c = analyzeSeries(
      recording([
        [steady(0.01), 3600],
        [steady(6.1), 3600],
      ]),
      { signal: 'current_a' },
    );
    expect(c.unit).toBe('A');
    expect(c.suggestion!.thresholds.standby).toBeGreaterThan(0.02);
    expect(c.explanation.join('\n')).toMatch(/ A\b/);
  });

  it('never throws; suggested thresholds are positive, rise, and give the hours reported (property)', () => {
    const segment = fc.tuple(
      fc.oneof(fc.constantFrom(0, 2, 4, 15, 150, 1400), fc.double({ min: 0, max: 5000, noNaN: true })),
      fc.integer({ min: 1, max: 900 }),
      fc.double({ min: 0, max: 0.3, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 12 }), fc.constantFrom(1000, 3000, 7000), (segs, stepMs) => {
        const rec = recording(
          segs.map(([v, s, noise]) => [steady(v, noise), s] as Segment),
          stepMs,
        );
        const c = analyzeSeries(rec, { signal: 'power_w' });
        const s = c.suggestion;
        if (!s) return;
        const t = s.thresholds;
        expect(t.standby).toBeGreaterThan(0);
        expect(t.standby).toBeLessThanOrEqual(t.idle);
        expect(t.idle).toBeLessThanOrEqual(t.running);
        expect(s.hysteresis).toBeGreaterThanOrEqual(0.05);
        expect(s.hysteresis).toBeLessThanOrEqual(0.5);
        expect(hoursOf(rec, t, { ...c.settings, hysteresis: s.hysteresis })).toEqual(s.hours);
      }),
      { numRuns: 60 },
    );
  });
});

describe('numbers as a technician reads them', () => {
  it('formats values with SI prefixes and keeps thresholds short within their bounds', () => {
    expect(fmt(0, 'W')).toBe('0 W');
    expect(fmt(1384, 'W')).toBe('1.38 kW');
    expect(fmt(0.0833, 'A')).toBe('83.3 mA');
    expect(niceBetween(39.74, 30, 45)).toBe(40);
    expect(niceBetween(39.74, 39.5, 39.9)).toBe(39.7);
    expect(niceBetween(0.08333, 0.05, 0.1)).toBe(0.083);
  });
});
