import { classifySignal } from '@dayi/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readKehkok, readTracebase } from '../../collector/test/helpers/traces.ts';
import { analyzeSignal, fmt, MIN_SAMPLES, roundThreshold } from '../src/calibrate/analyze.ts';

/** A seeded generator, so synthetic recordings are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function levels(spec: [level: number, samples: number][], noise = 0.05, seed = 7): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (const [level, n] of spec) for (let i = 0; i < n; i++) out.push(level * (1 + (r() * 2 - 1) * noise));
  return out;
}

const tracebase = (file: string) => readTracebase(file).map((s) => s.p1s);
const kehkok = (file: string, column = 'Active (W)') => readKehkok(file).map((s) => s.values[column]!);

describe('calibration on real power traces', () => {
  it('refrigerator: the running threshold separates the compressor from its off phases', () => {
    const p = tracebase('Refrigerator_2011.11.28.csv');
    const c = analyzeSignal(p, { signal: 'power_w' });
    expect(c.clusters[0]?.label).toBe('off');
    expect(c.clusters.at(-1)?.label).toBe('running');
    const t = c.thresholds!;
    expect(t.running).toBeGreaterThan(15);
    expect(t.running).toBeLessThan(100);
    // The README says the compressor runs about 27 % of the time.
    const running = p.filter((v) => classifySignal(v, t) === 'running').length / p.length;
    expect(running).toBeGreaterThan(0.24);
    expect(running).toBeLessThan(0.3);
    for (const v of p) if (v >= 100) expect(classifySignal(v, t)).toBe('running');
    for (const v of p) if (v === 0) expect(classifySignal(v, t)).toBe('off');
  });

  it('coffee machine: two short brews at 1.38 kW are running, its 2 W standby is not', () => {
    const p = tracebase('Senseo_Coffee_2011.11.29.csv');
    const c = analyzeSignal(p, { signal: 'power_w' });
    expect(c.clusters.map((k) => k.label)).toEqual(['off', 'standby', 'running']);
    const t = c.thresholds!;
    expect(t.running).toBeGreaterThan(5);
    expect(t.running).toBeLessThan(500);
    for (const v of p) {
      if (v >= 1000) expect(classifySignal(v, t)).toBe('running');
      if (v >= 1 && v <= 3) expect(classifySignal(v, t)).toBe('standby');
      if (v === 0) expect(classifySignal(v, t)).toBe('off');
    }
  });

  it('washing machine: heater blocks over 1 kW are running; motor chatter and standby are not', () => {
    const p = tracebase('dev_D338C9_2012.06.29.csv');
    const c = analyzeSignal(p, { signal: 'power_w' });
    expect(c.clusters.map((k) => k.label)).toEqual(['off', 'standby', 'idle', 'running']);
    const t = c.thresholds!;
    expect(t.running).toBeGreaterThan(500);
    expect(t.running).toBeLessThan(1500);
    for (const v of p) {
      if (v >= 1500) expect(classifySignal(v, t)).toBe('running');
      if (v <= 400) expect(classifySignal(v, t)).not.toBe('running');
      if (v > 0 && v <= 3) expect(classifySignal(v, t)).toBe('standby');
    }
  });

  for (const [name, file] of [
    ['kettle', 'train_data/kettle.csv'],
    ['kettle (test)', 'test_data/kettle.csv'],
    ['water heater', 'train_data/water_heater.csv'],
    ['water heater (test)', 'test_data/water_heater.csv'],
  ] as const) {
    it(`${name}: two clusters, off and on, in watts and in amperes`, () => {
      const p = kehkok(file);
      const c = analyzeSignal(p, { signal: 'power_w' });
      expect(c.verdict).toBe('two_clusters');
      expect(c.clusters.map((k) => k.label)).toEqual(['off', 'running']);
      const t = c.thresholds!;
      expect(t.running).toBeGreaterThan(5);
      expect(t.running).toBeLessThan(500);
      expect(t.standby).toBe(t.running);
      for (const v of p) {
        if (v >= 1000) expect(classifySignal(v, t)).toBe('running');
        if (v < 5) expect(classifySignal(v, t)).toBe('off');
      }
      const a = kehkok(file, 'RMS Current');
      const ca = analyzeSignal(a, { signal: 'current_a' });
      expect(ca.verdict).toBe('two_clusters');
      expect(ca.thresholds!.running).toBeGreaterThan(0.02);
      expect(ca.thresholds!.running).toBeLessThan(2);
      expect(ca.explanation.join('\n')).toMatch(/ A\b/);
    });
  }

  it('the sum of three appliances: every multi-kW phase is running', () => {
    const p = kehkok('train_data/main.csv');
    const c = analyzeSignal(p, { signal: 'power_w' });
    expect(c.clusters.length).toBeGreaterThanOrEqual(3);
    const t = c.thresholds!;
    for (const v of p) if (v >= 1900) expect(classifySignal(v, t)).toBe('running');
    for (const v of p) if (v <= 3) expect(classifySignal(v, t)).not.toBe('running');
  });
});

describe('calibration on synthetic recordings', () => {
  it('reads four levels as off, standby, idle and running', () => {
    const c = analyzeSignal(
      levels([
        [0, 400],
        [15, 200],
        [150, 200],
        [900, 200],
      ]),
      { signal: 'power_w' },
    );
    expect(c.verdict).toBe('clusters');
    expect(c.clusters.map((k) => k.label)).toEqual(['off', 'standby', 'idle', 'running']);
    const t = c.thresholds!;
    expect(t.standby).toBeGreaterThan(0);
    expect(t.standby).toBeLessThan(14);
    expect(t.idle).toBeGreaterThan(16);
    expect(t.idle).toBeLessThan(140);
    expect(t.running).toBeGreaterThan(160);
    expect(t.running).toBeLessThan(850);
  });

  it('reads two powered levels without off as standby and running, standby starting below the lowest', () => {
    const c = analyzeSignal(
      levels([
        [15, 300],
        [900, 300],
      ]),
      { signal: 'power_w' },
    );
    expect(c.verdict).toBe('two_clusters');
    expect(c.clusters.map((k) => k.label)).toEqual(['standby', 'running']);
    const t = c.thresholds!;
    expect(t.standby).toBeLessThanOrEqual(7.5);
    expect(t.standby).toBeGreaterThan(5);
    expect(t.running).toBeGreaterThan(16);
    expect(t.running).toBeLessThan(850);
    expect(c.explanation.join('\n')).toMatch(/No off readings were recorded/);
  });

  it('reads a ready level near the running one as idle', () => {
    const c = analyzeSignal(
      levels([
        [0, 100],
        [300, 300],
        [900, 300],
      ]),
      { signal: 'power_w' },
    );
    expect(c.clusters.map((k) => k.label)).toEqual(['off', 'idle', 'running']);
    expect(c.thresholds!.standby).toBe(c.thresholds!.idle);
  });

  it('says so and suggests nothing when the signal stayed in one cluster', () => {
    const c = analyzeSignal(levels([[13, 500]], 0.1), { signal: 'power_w' });
    expect(c.verdict).toBe('one_cluster');
    expect(c.thresholds).toBeUndefined();
    expect(c.explanation[0]).toMatch(/stayed in one cluster/);
    expect(analyzeSignal(new Array(100).fill(0), { signal: 'power_w' })).toMatchObject({
      verdict: 'one_cluster',
      clusters: [{ median: 0 }],
    });
  });

  it('needs enough samples', () => {
    const c = analyzeSignal([0, 1000, 0, 1000], { signal: 'power_w' });
    expect(c.verdict).toBe('too_few_samples');
    expect(c.thresholds).toBeUndefined();
    expect(c.explanation[0]).toContain(`at least ${MIN_SAMPLES}`);
    expect(analyzeSignal([], { signal: 'power_w' })).toMatchObject({
      verdict: 'too_few_samples',
      samples: 0,
    });
  });

  it('drops non-finite values and counts negative ones as zero', () => {
    const c = analyzeSignal(
      [...levels([[0, 50]]), -3, Number.NaN, Number.POSITIVE_INFINITY, ...levels([[500, 50]])],
      {
        signal: 'power_w',
      },
    );
    expect(c).toMatchObject({ samples: 101, dropped: 2, negative: 1, verdict: 'two_clusters' });
  });

  it('a lone spike is not a level', () => {
    const c = analyzeSignal([...levels([[0, 500]]), 2000, ...levels([[0, 500]], 0.05, 9)], {
      signal: 'power_w',
    });
    expect(c.verdict).toBe('one_cluster');
  });

  it('never throws; thresholds, when given, rise and are finite (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.double({ noNaN: false }), fc.constantFrom(0, 0, 1, 2, 100, 1000), fc.nat(5000)),
          {
            maxLength: 400,
          },
        ),
        (values) => {
          const c = analyzeSignal(values, { signal: 'power_w' });
          expect(c.clusters.length).toBeLessThanOrEqual(4);
          if (c.thresholds) {
            const t = c.thresholds;
            for (const v of [t.standby, t.idle, t.running]) expect(Number.isFinite(v) && v >= 0).toBe(true);
            expect(t.standby).toBeLessThanOrEqual(t.idle);
            expect(t.idle).toBeLessThanOrEqual(t.running);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('calibration number formats', () => {
  it('formats values with SI prefixes and rounds thresholds to two digits', () => {
    expect(fmt(0, 'W')).toBe('0 W');
    expect(fmt(1384, 'W')).toBe('1.38 kW');
    expect(fmt(0.0833, 'A')).toBe('83.3 mA');
    expect(fmt(39.74, 'W')).toBe('39.7 W');
    expect(roundThreshold(39.74)).toBe(40);
    expect(roundThreshold(0.08333)).toBe(0.083);
    expect(roundThreshold(944.2)).toBe(940);
  });
});
