import { describe, expect, it } from 'vitest';
import { readTracebase } from '../../collector/test/helpers/traces.ts';
import { analyzeSignal } from '../src/calibrate/analyze.ts';
import { BAR_WIDTH, bar, renderHistogram, renderReport, stateSnippet } from '../src/calibrate/report.ts';

describe('calibration report', () => {
  it('draws bars to the eighth of a cell', () => {
    expect(bar(0)).toBe('');
    expect(bar(1)).toBe('█');
    expect(bar(2.5)).toBe('██▌');
    expect(bar(0.125)).toBe('▏');
  });

  it('draws the coffee machine: zero readings, standby and brews, with the thresholds between them', () => {
    const c = analyzeSignal(
      readTracebase('Senseo_Coffee_2011.11.29.csv').map((s) => s.p1s),
      { signal: 'power_w' },
    );
    const h = renderHistogram(c);
    const lines = h.trimEnd().split('\n');
    // Rows, in rising order, with the zero readings first and the brews last.
    expect(lines[0]).toMatch(/^ *0 – [\d.]+ mW │█{40} +94\.8 %$/);
    expect(lines.at(-1)).toMatch(/kW │█+[▏▎▍▌▋▊▉]? +n=14$/);
    const standby = lines.findIndex((l) => /standby ≥ 420 mW/.test(l));
    const running = lines.findIndex((l) => /idle = running ≥ 40 W/.test(l));
    const twoWatts = lines.findIndex((l) => /1\.86 W – 3\.02 W │█+[▏▎▍▌▋▊▉]? +5\.1 %/.test(l));
    expect(standby).toBeGreaterThan(0);
    expect(twoWatts).toBeGreaterThan(standby);
    expect(running).toBeGreaterThan(twoWatts);
    // Long runs of empty rows fold into one ellipsis row.
    expect(h).toContain('⋮');
    for (const l of lines) expect(l.length).toBeLessThan(30 + BAR_WIDTH + 12);

    const report = renderReport(c, { instrumentId: 'ZJ-COFFEE-1', recordedMs: 86_400_000 });
    expect(report).toContain('Calibration of ZJ-COFFEE-1: 14856 samples of power_w over 24 h 0 min');
    expect(report).toContain('power_w has 3 clusters, read as off, standby, running.');
    expect(report).toContain('      thresholds: { standby: 0.42, idle: 40, running: 40 }');
    expect(stateSnippet(c)).toBe(
      'state:\n  signal: power_w\n  thresholds: { standby: 0.42, idle: 40, running: 40 }\n',
    );
  });

  it('suggests nothing for one cluster and says why', () => {
    const c = analyzeSignal(
      Array.from({ length: 200 }, (_, i) => 120 + (i % 7)),
      { signal: 'power_w' },
    );
    const report = renderReport(c, { instrumentId: 'X', recordedMs: 60_000 });
    expect(report).toContain('stayed in one cluster');
    expect(report).toContain('No thresholds suggested.');
    expect(report).not.toContain('state:');
    expect(stateSnippet(c)).toBeUndefined();
  });

  it('warns about negative readings', () => {
    const c = analyzeSignal([...new Array(50).fill(-2), ...new Array(50).fill(800)], { signal: 'power_w' });
    expect(renderReport(c, { instrumentId: 'X', recordedMs: 1000 })).toContain(
      "(50 negative values counted as 0: check the CT clamp's direction)",
    );
  });
});
