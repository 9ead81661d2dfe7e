/**
 * `npm run bench -- calibration`: the accuracy of `dayi agent calibrate` on the evaluation set
 * (agent/test/fixtures/calibration): for every trace, at its own sampling and resampled to 1 Hz,
 * the powered and running hours of the suggested state block against the hand-set ones, and the
 * time the analysis took. Prints JSON; docs/calibration.md quotes it.
 */
import { performance } from 'node:perf_hooks';
import { analyzeSeries, chooseLevels, levelReaching } from '../agent/src/calibrate/analyze.ts';
import { resample } from '../agent/src/calibrate/series.ts';
import { loadTrace, readManifest } from '../agent/test/fixtures/calibration/hand-hours.ts';

const tolerance = (h: number) => Math.max(0.05 * h, 0.1);
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Row {
  trace: string;
  rate: 'native' | '1Hz';
  samples: number;
  hand: { powered: number; running: number };
  suggested?: { powered: number; running: number; thresholds: unknown; hysteresis: number };
  /** Largest of |error| / tolerance over powered and running (≤ 1 holds). */
  errorOverTolerance?: number;
  errorHours?: number;
  outcome: 'within' | 'cannot decide (said so)' | 'outside';
  analysisMs: number;
}

const rows: Row[] = [];
for (const t of readManifest().traces) {
  const native = loadTrace(t.file);
  for (const [rate, samples] of [
    ['native', native],
    ['1Hz', resample(native, 1000)],
  ] as const) {
    const started = performance.now();
    let c = analyzeSeries(samples, { signal: 'power_w' });
    if (t.hand.runningFrom !== undefined && c.verdict === 'levels') {
      const level = levelReaching(c.levels, t.hand.runningFrom);
      if (level !== undefined) c = chooseLevels(c, samples, { level });
    }
    const analysisMs = performance.now() - started;
    const hand = t.hand.hours![rate];
    const s = c.suggestion;
    if (!s) {
      rows.push({
        trace: t.name,
        rate,
        samples: samples.length,
        hand,
        outcome: 'cannot decide (said so)',
        analysisMs: Math.round(analysisMs),
      });
      continue;
    }
    const dp = Math.abs(s.hours.poweredHours - hand.powered);
    const dr = Math.abs(s.hours.runningHours - hand.running);
    const ratio = Math.max(dp / tolerance(hand.powered), dr / tolerance(hand.running));
    rows.push({
      trace: t.name,
      rate,
      samples: samples.length,
      hand,
      suggested: {
        powered: r3(s.hours.poweredHours),
        running: r3(s.hours.runningHours),
        thresholds: s.thresholds,
        hysteresis: s.hysteresis,
      },
      errorOverTolerance: r3(ratio),
      errorHours: r3(Math.max(dp, dr)),
      outcome: ratio <= 1 ? 'within' : s.unsteady ? 'cannot decide (said so)' : 'outside',
      analysisMs: Math.round(analysisMs),
    });
  }
}

const decided = rows.filter((r) => r.outcome === 'within' || r.outcome === 'outside');
const worst = decided.reduce((a, b) => ((b.errorOverTolerance ?? 0) > (a.errorOverTolerance ?? 0) ? b : a));
const worstHours = decided.reduce((a, b) => ((b.errorHours ?? 0) > (a.errorHours ?? 0) ? b : a));
const times = rows.map((r) => r.analysisMs).sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'calibration',
      traces: rows.length / 2,
      runs: rows.length,
      within: rows.filter((r) => r.outcome === 'within').length,
      cannotDecide: rows
        .filter((r) => r.outcome === 'cannot decide (said so)')
        .map((r) => `${r.trace} ${r.rate}`),
      outside: rows.filter((r) => r.outcome === 'outside').map((r) => `${r.trace} ${r.rate}`),
      worst: {
        trace: worst.trace,
        rate: worst.rate,
        errorOverTolerance: worst.errorOverTolerance,
        errorHours: worst.errorHours,
      },
      worstHours: { trace: worstHours.trace, rate: worstHours.rate, errorHours: worstHours.errorHours },
      analysisMs: { median: times[Math.floor(times.length / 2)], max: times[times.length - 1] },
      rows,
    },
    null,
    2,
  )}\n`,
);
