/**
 * Classification and usage on REAL power traces (/work/shared/data/traces). The expected seconds
 * were counted independently with awk over the raw files (each sample holds until the next one,
 * at most offlineAfter, clipped to the day), and agree with the traces' README: two short coffee
 * brews, a refrigerator compressor on about 27 % of the day.
 */
import { classifySignal, type SignalThresholds } from '@dayi/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Observation } from '../src/derive/pure/timeline.ts';
import { coverageOf, toHours, usageByDay } from '../src/derive/pure/usage.ts';
import {
  kehkokMetrics,
  parseKehkok,
  parseTracebase,
  readKehkok,
  readTracebase,
  tracebaseMetrics,
} from './helpers/traces.ts';

const FIVE_MIN = 5 * 60_000;
const FAR_FUTURE = Date.parse('2030-01-01T00:00:00Z');

function observe(
  samples: { ts: number; metrics: Record<string, number> }[],
  t: SignalThresholds,
): Observation[] {
  return samples.map((s, i) => ({ ts: s.ts, state: classifySignal(s.metrics.power_w!, t), order: i }));
}

function dayOf(observations: Observation[], date: string, timezone: string) {
  const [day] = usageByDay(observations, [date], { timezone, offlineAfterMs: FIVE_MIN, now: FAR_FUTURE });
  return day!;
}

describe('tracebase traces (Europe/Berlin local time)', () => {
  it('Senseo coffee: two brews at ~1.38 kW are 80 s of running, 118 s powered', () => {
    const samples = readTracebase('Senseo_Coffee_2011.11.29.csv');
    expect(samples).toHaveLength(14856);
    expect(Math.max(...samples.map((s) => s.p1s))).toBe(1384);
    const day = dayOf(
      observe(samples.map(tracebaseMetrics), { standby: 5, idle: 50, running: 1000 }),
      '2011-11-29',
      'Europe/Berlin',
    );
    expect(day).toEqual({
      date: '2011-11-29',
      runningMs: 80_000,
      poweredMs: 118_000,
      coveredMs: 86_397_000,
      spanMs: 86_400_000,
    });
    expect(toHours(day.runningMs)).toBe(0.02);
    expect(coverageOf(day.coveredMs, day.spanMs)).toBe(1);
  });

  it('refrigerator: the compressor runs about 27 % of the day (6.33 h)', () => {
    const samples = readTracebase('Refrigerator_2011.11.28.csv');
    const day = dayOf(
      observe(samples.map(tracebaseMetrics), { standby: 20, idle: 50, running: 100 }),
      '2011-11-28',
      'Europe/Berlin',
    );
    expect(day.runningMs).toBe(22_780_000);
    expect(day.poweredMs).toBe(22_804_000);
    expect(day.coveredMs).toBe(86_399_000);
    expect(toHours(day.runningMs)).toBe(6.33);
    const duty = day.runningMs / day.coveredMs;
    expect(duty).toBeGreaterThan(0.25);
    expect(duty).toBeLessThan(0.3);
  });

  it('washing machine: heater blocks over 1 kW are 911 s, the whole programme 6027 s powered', () => {
    const samples = readTracebase('dev_D338C9_2012.06.29.csv');
    const day = dayOf(
      observe(samples.map(tracebaseMetrics), { standby: 5, idle: 50, running: 1000 }),
      '2012-06-29',
      'Europe/Berlin',
    );
    expect(day.runningMs).toBe(911_000);
    expect(day.poweredMs).toBe(6_027_000);
    expect(day.coveredMs).toBe(86_389_000);
    expect(toHours(day.poweredMs)).toBe(1.67);
  });
});

describe('kehkok bench recording (1 Hz)', () => {
  const t = { standby: 5, idle: 100, running: 1000 };
  const cases = [
    { file: 'train_data/kettle.csv', runningS: 305, poweredS: 306 },
    { file: 'train_data/vacuum.csv', runningS: 185, poweredS: 186 },
    { file: 'train_data/water_heater.csv', runningS: 452, poweredS: 452 },
    { file: 'train_data/main.csv', runningS: 551, poweredS: 568 },
  ];
  for (const c of cases) {
    it(`${c.file}: ${c.runningS} s running, ${c.poweredS} s powered`, () => {
      const samples = readKehkok(c.file);
      expect(samples).toHaveLength(621);
      const day = dayOf(observe(samples.map(kehkokMetrics), t), '2022-11-22', 'UTC');
      expect(day.runningMs).toBe(c.runningS * 1000);
      expect(day.poweredMs).toBe(c.poweredS * 1000);
      // 620 one-second steps, then the last sample holds for offlineAfter.
      expect(day.coveredMs).toBe(620_000 + FIVE_MIN);
    });
  }

  it('the water heater steps from 0 to 14.4 A', () => {
    const amps = readKehkok('train_data/water_heater.csv').map((s) => s.values['RMS Current']!);
    expect(Math.min(...amps)).toBe(0);
    expect(Math.max(...amps)).toBeCloseTo(14.4, 0);
  });
});

describe('trace parsers', () => {
  const sample = fc.record({
    // Whole seconds in 2011, in a zone without DST ambiguity for the round trip (UTC).
    ts: fc
      .integer({ min: Date.UTC(2011, 0, 1) / 1000, max: Date.UTC(2012, 0, 1) / 1000 - 1 })
      .map((s) => s * 1000),
    p1s: fc.integer({ min: 0, max: 5000 }),
    p8s: fc.integer({ min: 0, max: 5000 }),
  });
  const pad = (n: number) => String(n).padStart(2, '0');

  it('tracebase: format then parse gives the samples back, CRLF or LF, in file order', () => {
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 50 }), fc.boolean(), (samples, crlf) => {
        const text = samples
          .map((s) => {
            const d = new Date(s.ts);
            return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())};${s.p1s};${s.p8s}`;
          })
          .join(crlf ? '\r\n' : '\n');
        expect(parseTracebase(text, 'UTC')).toEqual(samples);
      }),
    );
  });

  it('kehkok: format then parse gives the samples back', () => {
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 50 }), (samples) => {
        const text = [
          'Timestamp,RMS Current,Active (W)',
          ...samples.map(
            (s) => `${new Date(s.ts).toISOString().slice(0, 19).replace('T', ' ')},${s.p8s / 100},${s.p1s}`,
          ),
        ].join('\n');
        expect(parseKehkok(text, 'UTC')).toEqual(
          samples.map((s) => ({ ts: s.ts, values: { 'RMS Current': s.p8s / 100, 'Active (W)': s.p1s } })),
        );
      }),
    );
  });

  it('reads local wall-clock time in the given zone', () => {
    const [s] = parseTracebase('28/11/2011 00:00:01;0;0\r\n', 'Europe/Berlin');
    expect(s!.ts).toBe(Date.parse('2011-11-28T00:00:01+01:00'));
  });

  it('names the line of a malformed sample', () => {
    expect(() => parseTracebase('28/11/2011 00:00:01;0;0\r\n28/11/2011 00:00:0x;1;1\r\n')).toThrow(/line 2/);
    expect(() => parseKehkok('Timestamp,Active (W)\n2022-11-22 11:19:03,abc\n')).toThrow(
      /line 2: Active \(W\)/,
    );
    expect(() => parseKehkok('Time,Active (W)\n')).toThrow(/header/);
  });
});
