/**
 * The calibration evaluation set (fixtures/calibration/README.md): 31 real traces with thresholds
 * set by hand before the method was tuned. On each, at the meter's own sampling and resampled to
 * 1 Hz, the suggested state block must give powered and running hours within max(5 %, 0.1 h) of
 * the hand-set ones, or the report must say plainly that it cannot decide, why, and what to record.
 * docs/calibration.md quotes the worst case this test measures.
 */
import { describe, expect, it } from 'vitest';
import { analyzeSeries, type Calibration, chooseLevels, levelReaching } from '../src/calibrate/analyze.ts';
import { renderReport } from '../src/calibrate/report.ts';
import { resample, type Sample } from '../src/calibrate/series.ts';
import { type EvalTrace, handHours, loadTrace, readManifest } from './fixtures/calibration/hand-hours.ts';

const { traces } = readManifest();
const tolerance = (hours: number) => Math.max(0.05 * hours, 0.1);

/** Calibrate as a technician would: the suggestion, or the level the hand-set `runningFrom` names. */
function calibrateTrace(t: EvalTrace, samples: Sample[]): Calibration {
  const c = analyzeSeries(samples, { signal: 'power_w' });
  if (t.hand.runningFrom === undefined || c.verdict !== 'levels') return c;
  const level = levelReaching(c.levels, t.hand.runningFrom);
  expect(level, `a level reaching ${t.hand.runningFrom} W`).toBeDefined();
  return chooseLevels(c, samples, { level: level! });
}

describe('calibration evaluation set: 31 real traces, thresholds set by hand', () => {
  it('holds many appliance types from two public data sets', () => {
    expect(traces.length).toBe(31);
    expect(new Set(traces.map((t) => t.file.split('/')[0])).size).toBe(2);
  });

  for (const t of traces) {
    it(`${t.name} (${t.appliance}): at its own sampling and at 1 Hz`, () => {
      const native = loadTrace(t.file);
      const thresholds: string[] = [];
      for (const [rate, samples] of [
        ['native', native],
        ['1Hz', resample(native, 1000)],
      ] as const) {
        const hand = t.hand.hours![rate];
        // The hand-set hours are what the hand-set thresholds give: the fixture is not stale.
        expect(handHours(t, samples), `${rate}: hand-set hours`).toEqual(hand);
        const c = calibrateTrace(t, samples);
        const report = renderReport(c, { instrumentId: t.name });
        const s = c.suggestion;
        if (t.expect === 'undecided') {
          expect(s, `${rate}: no suggestion`).toBeUndefined();
          expect(report).toContain('No thresholds suggested.');
          expect(report).toMatch(/no threshold can be told from this recording[\s\S]*Record again/);
          continue;
        }
        expect(s, `${rate}: a suggestion (${c.verdict}: ${c.advice.join(' ')})`).toBeDefined();
        const dp = Math.abs(s!.hours.poweredHours - hand.powered);
        const dr = Math.abs(s!.hours.runningHours - hand.running);
        const within = dp <= tolerance(hand.powered) && dr <= tolerance(hand.running);
        if (!within) {
          // Allowed only when the report says plainly that it cannot decide, and what to record.
          expect(
            s!.unsteady,
            `${rate}: off by ${dp.toFixed(3)} h powered, ${dr.toFixed(3)} h running`,
          ).toBeDefined();
          expect(report).toContain('Cannot decide where work starts');
          expect(report).toContain('Record a session while noting when the instrument really works');
        }
        // Standby is above zero and above the off level; thresholds rise.
        const th = s!.thresholds;
        expect(th.standby).toBeGreaterThan(0);
        expect(th.standby).toBeLessThanOrEqual(th.idle);
        expect(th.idle).toBeLessThanOrEqual(th.running);
        const off = c.levels.filter((l) => s!.roles[l.n - 1] === 'off');
        for (const l of off) expect(th.standby * (1 - s!.hysteresis)).toBeGreaterThan(l.high);
        thresholds.push(JSON.stringify({ ...th, hysteresis: s!.hysteresis }));
      }
      // The same thresholds at the meter's sampling and at 1 Hz.
      if (thresholds.length === 2) expect(thresholds[0]).toBe(thresholds[1]);
    });
  }
});
