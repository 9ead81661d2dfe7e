import { classifySignal, type State } from '@dayi/protocols';
import { describe, expect, it } from 'vitest';
import { readTracebase, tracebaseMetrics } from '../../collector/test/helpers/traces.ts';
import {
  type ClassifierOptions,
  type ClassifierSample,
  type StateChange,
  StateClassifier,
} from '../src/classifier.ts';

const T0 = Date.UTC(2026, 10, 2, 0, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const NMR = { standby: 5, idle: 80, running: 400 };

function opts(over: Partial<ClassifierOptions> = {}): ClassifierOptions {
  return {
    signal: 'power_w',
    aggregate: 'avg',
    window: 1,
    thresholds: NMR,
    hysteresis: 0.1,
    minDwell: 0,
    ...over,
  };
}

/** Feeds samples; returns every committed change. */
function run(o: ClassifierOptions, samples: ClassifierSample[]): StateChange[] {
  const c = new StateClassifier(o);
  return samples.map((s) => c.push(s)).filter((x): x is StateChange => x !== null);
}

/** 1 Hz power samples from a function of seconds since T0. */
function signal(seconds: number, watts: (s: number) => number): ClassifierSample[] {
  return Array.from({ length: seconds }, (_, s) => ({ ts: T0 + s * SEC, metrics: { power_w: watts(s) } }));
}

function rawTransitions(samples: ClassifierSample[], t = NMR): number {
  let n = 0;
  let prev: State | null = null;
  for (const s of samples) {
    const st = classifySignal(s.metrics.power_w!, t);
    if (prev !== null && st !== prev) n++;
    prev = st;
  }
  return n;
}

const brief = (c: StateChange[]) => c.map((x) => [x.state, (x.since - T0) / SEC, (x.ts - T0) / SEC]);

describe('classifier on generated signals', () => {
  it('commits the first state at once, then follows SPEC thresholds', () => {
    const levels = [0, 3, 50, 200, 900, 900];
    const changes = run(
      opts(),
      levels.map((w, i) => ({ ts: T0 + i * MIN, metrics: { power_w: w } })),
    );
    expect(changes.map((c) => c.state)).toEqual(['off', 'standby', 'idle', 'running']);
    expect(changes[0]).toMatchObject({ since: T0, ts: T0, source: 'power_w', previous: null });
  });

  it('hysteresis: noise around a threshold does not flip the state', () => {
    // 5 min running, then idle at 200 W, then 10 min of noise between 370 and 430 W around running=400.
    const samples = signal(20 * 60, (s) => (s < 300 ? 900 : s < 600 ? 200 : 400 + 30 * Math.sin(s)));
    expect(rawTransitions(samples)).toBeGreaterThan(100);
    expect(brief(run(opts(), samples))).toEqual([
      ['running', 0, 0],
      ['idle', 300, 300],
    ]);
    // Crossing by more than 10 % does change it.
    const up = signal(60, (s) => (s < 30 ? 200 : 445));
    expect(run(opts(), up).map((c) => c.state)).toEqual(['idle', 'running']);
  });

  it('minimum dwell: short spikes are ignored, a real run is committed with its true start', () => {
    // Off at 2 W, a 10 s spike to 900 W every minute for 10 min, then a 5 min run from s=600.
    const samples = signal(20 * 60, (s) =>
      s >= 600 && s < 900 ? 900 : s < 600 && s % 60 >= 30 && s % 60 < 40 ? 900 : 2,
    );
    expect(rawTransitions(samples)).toBeGreaterThanOrEqual(20);
    expect(brief(run(opts({ minDwell: 30 * SEC }), samples))).toEqual([
      ['off', 0, 0],
      ['running', 600, 630],
      ['off', 900, 930],
    ]);
  });

  it('aggregates avg, min and max over the sliding window', () => {
    // A duty cycle: 0 W and 1000 W on alternate seconds.
    const samples = signal(120, (s) => (s % 2 ? 1000 : 0));
    const last = (aggregate: ClassifierOptions['aggregate']) =>
      run(opts({ aggregate, window: 10 * SEC, minDwell: 20 * SEC }), samples).at(-1)!.state;
    expect(last('avg')).toBe('running'); // 500 W
    expect(last('min')).toBe('off');
    expect(last('max')).toBe('running');
    // A window of one sample follows the duty cycle; dwell then keeps the first state.
    expect(run(opts({ window: 1, minDwell: 20 * SEC }), samples).map((c) => c.state)).toEqual(['off']);
  });

  it('a vendor fault wins at once over the power classifier and ends when that input says so', () => {
    const c = new StateClassifier(opts({ minDwell: 30 * SEC }));
    expect(c.push({ ts: T0, metrics: { power_w: 900 } })?.state).toBe('running');
    const fault = c.push({ ts: T0 + SEC, metrics: { power_w: 900 }, state: 'fault', source: 'opcua' });
    expect(fault).toMatchObject({ state: 'fault', since: T0 + SEC, source: 'opcua', previous: 'running' });
    // Another input cannot clear it, and power alone does not either.
    expect(c.push({ ts: T0 + 2 * SEC, metrics: { power_w: 2 }, state: 'idle', source: 'modbus' })).toBeNull();
    expect(c.push({ ts: T0 + 3 * SEC, metrics: { power_w: 2 } })).toBeNull();
    const back = c.push({ ts: T0 + 4 * SEC, metrics: { power_w: 2 }, state: 'running', source: 'opcua' });
    expect(back).toMatchObject({ state: 'off', source: 'power_w', previous: 'fault' });
  });

  it('a fault from a Modbus status point ends with the first reading of that input without it', () => {
    const c = new StateClassifier(opts({ minDwell: 30 * SEC }));
    const meter = 'modbus tcp 127.0.0.1:502 unit 1';
    expect(c.push({ ts: T0, metrics: { power_w: 900 }, source: meter })?.state).toBe('running');
    expect(c.push({ ts: T0 + SEC, metrics: { power_w: 900 }, state: 'fault', source: meter })?.state).toBe(
      'fault',
    );
    expect(c.push({ ts: T0 + 2 * SEC, metrics: { power_w: 900 }, state: 'fault', source: meter })).toBeNull();
    expect(c.push({ ts: T0 + 3 * SEC, metrics: { power_w: 900 }, source: meter })).toMatchObject({
      state: 'running',
      previous: 'fault',
    });
  });

  it('signal vendor: the state the instrument reports is committed at once', () => {
    const changes = run(opts({ signal: 'vendor', thresholds: undefined, minDwell: 60 * SEC }), [
      { ts: T0, metrics: {}, state: 'idle', source: 'opcua' },
      { ts: T0 + SEC, metrics: {}, state: 'idle', source: 'opcua' },
      { ts: T0 + 2 * SEC, metrics: {}, state: 'running', source: 'opcua' },
      { ts: T0 + 3 * SEC, metrics: {}, state: 'fault', source: 'opcua' },
      { ts: T0 + 4 * SEC, metrics: {}, state: 'idle', source: 'opcua' },
    ]);
    expect(changes.map((c) => [c.state, (c.ts - T0) / SEC])).toEqual([
      ['idle', 0],
      ['running', 2],
      ['fault', 3],
      ['idle', 4],
    ]);
  });

  it('advance() completes a dwell without a new sample; older samples are ignored', () => {
    const c = new StateClassifier(opts({ minDwell: 30 * SEC }));
    c.push({ ts: T0, metrics: { power_w: 2 } });
    c.push({ ts: T0 + SEC, metrics: { power_w: 900 } });
    expect(c.advance(T0 + 20 * SEC)).toBeNull();
    expect(c.push({ ts: T0, metrics: { power_w: 2 } })).toBeNull();
    expect(c.advance(T0 + 31 * SEC)).toMatchObject({ state: 'running', since: T0 + SEC });
    expect(c.state).toBe('running');
    expect(c.since).toBe(T0 + SEC);
  });

  it('requires thresholds unless the signal is vendor', () => {
    expect(() => new StateClassifier(opts({ thresholds: undefined }))).toThrow(/thresholds are required/);
  });
});

describe('classifier on real traces (tracebase)', () => {
  it('washing machine: 179 motor bursts and 400+ raw flips become one stable running period', () => {
    const samples = readTracebase('dev_D338C9_2012.06.29.csv').map(tracebaseMetrics);
    const thresholds = { standby: 5, idle: 15, running: 50 };
    expect(rawTransitions(samples, thresholds)).toBeGreaterThan(400);
    const o = opts({ window: 2 * MIN, thresholds, minDwell: 2 * MIN });
    const changes = run(o, samples);
    const local = (ts: number) =>
      new Date(ts).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin', hourCycle: 'h23' });
    expect(changes.map((c) => [c.state, local(c.since)])).toEqual([
      ['off', '00:00:11'],
      ['standby', '09:20:21'],
      ['running', '09:23:26'],
      ['off', '11:19:51'],
    ]);
    // Debounced: every committed state lasted at least minDwell.
    for (let i = 1; i < changes.length; i++)
      expect(changes[i]!.since - changes[i - 1]!.since).toBeGreaterThanOrEqual(o.minDwell);
  });

  it('coffee machine: two brews are two running periods, not dozens', () => {
    const samples = readTracebase('Senseo_Coffee_2011.11.29.csv').map(tracebaseMetrics);
    const thresholds = { standby: 1, idle: 20, running: 300 };
    expect(rawTransitions(samples, thresholds)).toBeGreaterThan(1000); // 0/2 W standby chatter
    const changes = run(opts({ thresholds, minDwell: 10 * SEC }), samples);
    const running = changes.filter((c) => c.state === 'running');
    expect(running).toHaveLength(2);
    const local = (ts: number) =>
      new Date(ts).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin', hourCycle: 'h23' });
    expect(running.map((c) => local(c.since))).toEqual(['09:09:04', '09:10:59']);
    expect(changes.map((c) => c.state)).toEqual(['off', 'running', 'off', 'running', 'off']);
  });

  it('refrigerator: each compressor cycle is one running period', () => {
    const samples = readTracebase('Refrigerator_2011.11.28.csv').map(tracebaseMetrics);
    const thresholds = { standby: 5, idle: 20, running: 60 };
    const changes = run(opts({ thresholds, minDwell: 30 * SEC }), samples);
    const runs = changes.filter((c) => c.state === 'running');
    // About 27 % duty over the day in cycles of roughly 40-60 min (README).
    expect(runs.length).toBeGreaterThan(20);
    expect(runs.length).toBeLessThan(35);
    let on = 0;
    changes.forEach((c, i) => {
      const end = changes[i + 1]?.since ?? samples.at(-1)!.ts;
      if (c.state === 'running') on += end - c.since;
    });
    const share = on / (samples.at(-1)!.ts - samples[0]!.ts);
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.35);
  });
});
