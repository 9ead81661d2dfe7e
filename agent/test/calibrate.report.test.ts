import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { analyzeSeries } from '../src/calibrate/analyze.ts';
import {
  BAR_WIDTH,
  bar,
  durationText,
  renderHistogram,
  renderLevels,
  renderReport,
  stateSnippet,
} from '../src/calibrate/report.ts';
import { parseAgentConfig } from '../src/config.ts';
import { loadTrace } from './fixtures/calibration/hand-hours.ts';

const freezer = analyzeSeries(loadTrace('tracebase/freezer-a.csv.gz'), { signal: 'power_w' });

describe('calibration report', () => {
  it('draws bars to the eighth of a cell', () => {
    expect(bar(0)).toBe('');
    expect(bar(1)).toBe('█');
    expect(bar(2.5)).toBe('██▌');
    expect(bar(0.125)).toBe('▏');
  });

  it('lists the levels with their time, share, role and the running hours each choice gives', () => {
    const table = renderLevels(freezer).trimEnd().split('\n');
    expect(table[0]).toMatch(/level +range +time +share +read as +running if from here/);
    expect(table[1]).toMatch(/^ +1 +0 W to 2 W +21\.\d\d h +89\.\d % +off$/);
    expect(table[2]).toMatch(/^ +2 +151 W to 226 W +2\.4\d h +10\.\d % +running +2\.4\d h +← suggested$/);
  });

  it('draws the time at each value, the start-up peaks included, with the threshold where it falls', () => {
    const lines = renderHistogram(freezer).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ *0 – [\d.]+ mW │█{40} +9\.\d h$/);
    const threshold = lines.findIndex((l) => /┼──── standby = idle = running ≥ 8 W ────/.test(l));
    const compressor = lines.findIndex((l) => /124 W – 176 W │█+[▏▎▍▌▋▊▉]? +1\.\d h/.test(l));
    const peaks = lines.findIndex((l) => /499 W – 706 W │█+[▏▎▍▌▋▊▉]? +\d+ s$/.test(l));
    expect(threshold).toBeGreaterThan(0);
    expect(compressor).toBeGreaterThan(threshold);
    expect(peaks).toBeGreaterThan(compressor);
    for (const l of lines) expect(l.length).toBeLessThan(30 + BAR_WIDTH + 12);
  });

  it('prints the state block with hysteresis, the hours it gives, and why; the block pastes into agent.yaml', () => {
    const report = renderReport(freezer, { instrumentId: 'ZJ-FREEZER-1', source: 'freezer-a.csv.gz' });
    expect(report).toContain(
      'Calibration of ZJ-FREEZER-1 from freezer-a.csv.gz: 24963 samples of power_w over 24 h, one every 4 s; the meter reads in steps of 2 W',
    );
    expect(report).toContain('Read as: 1 off, 2 running.');
    expect(report).toMatch(/Not a level: peaks up to 1\.29 kW above the highest level/);
    expect(report).toContain('      thresholds: { standby: 8, idle: 8, running: 8 }');
    expect(report).toMatch(/ {6}hysteresis: 0\.4\d\n {6}minDwell: 30s\n/);
    expect(report).toMatch(
      /On this recording that block gives: powered 2\.4\d h, running 2\.4\d h \(standby 0 h, idle 0 h, off 21\.\d\d h\), 47 state changes\./,
    );
    const snippet = stateSnippet(freezer)!;
    expect(parseYaml(snippet)).toEqual({
      state: {
        signal: 'power_w',
        aggregate: 'avg',
        window: '10s',
        thresholds: freezer.suggestion!.thresholds,
        hysteresis: freezer.suggestion!.hysteresis,
        minDwell: '30s',
      },
    });
    const indented = snippet
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
    const config = parseAgentConfig(
      `agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1883" }\ninstruments:\n  - id: X\n    inputs: [ { type: simulated } ]\n${indented}\n`,
      { env: {} },
    );
    expect(config.instruments[0]?.state).toMatchObject({
      thresholds: freezer.suggestion!.thresholds,
      hysteresis: freezer.suggestion!.hysteresis,
      window: 10_000,
      minDwell: 30_000,
    });
  });

  it('says plainly when it cannot decide, and suggests nothing', () => {
    const c = analyzeSeries(loadTrace('tracebase/network-switch.csv.gz'), { signal: 'power_w' });
    const report = renderReport(c, { instrumentId: 'SW' });
    expect(report).toContain('No thresholds suggested.');
    expect(report).toMatch(/stayed at one level for the whole recording \(9 W to 11 W for 24\.00 h\)/);
    expect(report).toContain('Record again across a full cycle');
    expect(report).not.toContain('state:');
    expect(stateSnippet(c)).toBeUndefined();
  });

  it('says when work cannot be told from power: a running level that is a mix of short phases', () => {
    const c = analyzeSeries(loadTrace('tracebase/coffee-bean-to-cup.csv.gz'), { signal: 'power_w' });
    const report = renderReport(c, { instrumentId: 'COFFEE' });
    expect(report).toMatch(
      /Cannot decide where work starts: level 3 \(272 W to 1\.59 kW\) is not one steady draw[\s\S]*--running-from 660W/,
    );
    expect(report).toMatch(/Which levels are work cannot be told from power alone/);
  });

  it('warns about negative readings and writes durations as the config does', () => {
    const rec = Array.from({ length: 200 }, (_, i) => ({ ts: i * 1000, value: i < 100 ? -2 : 800 }));
    expect(renderReport(analyzeSeries(rec, { signal: 'power_w' }), { instrumentId: 'X' })).toContain(
      "(100 negative values counted as 0: check the CT clamp's direction)",
    );
    expect([10_000, 60_000, 90_000, 500, 7_200_000].map(durationText)).toEqual([
      '10s',
      '1m',
      '90s',
      '500ms',
      '2h',
    ]);
  });
});
