import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { calibrate, runCalibrate } from '../src/calibrate/index.ts';
import { parseAgentConfig } from '../src/config.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const log = pino({ level: 'silent' });

/** An instrument whose simulated meter cycles off → standby → running every 300 ms. */
function configText(extra = ''): string {
  return `
agent: { id: calib-test }
mqtt: { url: "mqtt://127.0.0.1:1883" }
instruments:
  - id: ZJ-CAL-0001
    inputs:
      - type: simulated
        pattern: steps
        every: 5ms
        steps:
          - { watts: 0, for: 100ms }
          - { watts: 15, for: 100ms }
          - { watts: 900, for: 100ms }
${extra}`;
}

describe('dayi agent calibrate (end to end with the simulated input)', () => {
  it('records the signal, prints a histogram and thresholds that paste back into agent.yaml', async () => {
    const config = parseAgentConfig(configText(), { env: {} });
    const out = new Capture();
    const r = await calibrate({
      config,
      instrumentId: 'ZJ-CAL-0001',
      durationMs: 1500,
      out,
      log,
      abort: new AbortController().signal,
      progressEveryMs: 500,
    });
    expect(r.exitCode, out.text).toBe(0);
    if (process.env.DAYI_SHOW_REPORT) console.log(out.text);
    const c = r.calibration!;
    expect(c.samples).toBeGreaterThan(100);
    expect(c.clusters.map((k) => k.label)).toEqual(['off', 'standby', 'running']);
    const t = c.thresholds!;
    expect(t.standby).toBeGreaterThan(0);
    expect(t.standby).toBeLessThan(14);
    expect(t.running).toBeGreaterThan(16);
    expect(t.running).toBeLessThan(850);

    expect(out.text).toContain('Recording power_w of ZJ-CAL-0001 from simulated steps');
    expect(out.text).toMatch(/samples of power_w, \d+ s left/);
    expect(out.text).toContain('│█');
    expect(out.text).toMatch(/┼──── standby ≥ /);
    // The snippet is valid agent.yaml: paste it under the instrument and the config loads.
    const snippet = out.text.slice(out.text.indexOf('    state:'));
    const pasted = parseAgentConfig(
      configText(
        snippet
          .split('\n')
          .map((l) => (l.startsWith('    ') ? l : ''))
          .join('\n'),
      ),
      { env: {} },
    );
    expect(pasted.instruments[0]?.state?.thresholds).toEqual(t);
    expect(parseYaml(snippet)).toEqual({ state: { signal: 'power_w', thresholds: t } });
  });

  it('ends early when aborted and reports what it has', async () => {
    const config = parseAgentConfig(configText(), { env: {} });
    const out = new Capture();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 800);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      runCalibrate({
        config,
        instrumentId: 'ZJ-CAL-0001',
        durationMs: 3_600_000,
        out,
        log,
        abort: ac.signal,
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('calibrate did not end within 30 s of the abort')), 30_000);
      }),
    ]);
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(out.text).toContain('Suggested state for ZJ-CAL-0001');
  });

  it('refuses an unknown instrument, naming the ones there are', async () => {
    const out = new Capture();
    const code = await runCalibrate({
      config: parseAgentConfig(configText(), { env: {} }),
      configFile: 'agent.yaml',
      instrumentId: 'NOPE',
      durationMs: 1000,
      out,
      log,
    });
    expect(code).toBe(1);
    expect(out.text).toContain('no instrument "NOPE" in agent.yaml; it has: ZJ-CAL-0001');
  });

  it('says which metrics arrived when none is the signal', async () => {
    const out = new Capture();
    const code = await runCalibrate({
      config: parseAgentConfig(configText(), { env: {} }),
      instrumentId: 'ZJ-CAL-0001',
      signal: 'temperature_c',
      durationMs: 200,
      out,
      log,
      abort: new AbortController().signal,
    });
    expect(code).toBe(1);
    expect(out.text).toContain(
      'No reading carried temperature_c; the inputs gave current_a, power_w, voltage_v',
    );
  });

  it('records the configured state signal (current_a) and prints amperes', async () => {
    const config = parseAgentConfig(
      configText(`    state: { signal: current_a, thresholds: { standby: 1, idle: 2, running: 3 } }`),
      { env: {} },
    );
    const out = new Capture();
    const r = await calibrate({
      config,
      instrumentId: 'ZJ-CAL-0001',
      durationMs: 1000,
      out,
      log,
      abort: new AbortController().signal,
    });
    expect(r.exitCode, out.text).toBe(0);
    expect(r.calibration?.signal).toBe('current_a');
    expect(out.text).toMatch(/signal: current_a/);
    expect(out.text).toMatch(/\d A\b/);
  });
});
