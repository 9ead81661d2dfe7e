/**
 * `calibrate()`, the I/O shell, with its three sources: a live recording through real inputs (the
 * simulated input; a serial sensor on a socat pty replaying a real trace), a CSV file, the outbox.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { calibrate, runCalibrate } from '../src/calibrate/index.ts';
import { parseCsvSeries } from '../src/calibrate/series.ts';
import { parseCalibrateConfig } from '../src/config.ts';
import { Outbox } from '../src/outbox.ts';
import { startPtyPair } from './helpers/serial-pty.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const log = pino({ level: 'silent' });
const root = mkdtempSync(join(tmpdir(), 'dayi-calibrate-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const FIXTURES = join(import.meta.dirname, 'fixtures/calibration');

/** An instrument whose simulated meter cycles off → standby → running every 3 s. */
function configText(extra = '', every = '20ms'): string {
  return `
instruments:
  - id: ZJ-CAL-0001
    inputs:
      - type: simulated
        pattern: steps
        every: ${every}
        steps:
          - { watts: 0, for: 1s }
          - { watts: 15, for: 1s }
          - { watts: 900, for: 1s }
${extra}`;
}
/** The classifier scaled to the simulated cycle: a 200 ms window, 300 ms minimum dwell. */
const FAST_STATE = `    state: { signal: power_w, window: 200ms, minDwell: 300ms, thresholds: { standby: 1, idle: 2, running: 3 } }`;

describe('dayi agent calibrate, live (simulated input)', () => {
  it('records, prints the report on out and the rest on err, and saves the recording', async () => {
    const config = parseCalibrateConfig(configText(FAST_STATE), { env: {} });
    const out = new Capture();
    const err = new Capture();
    const save = join(root, 'live.csv');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20_000);
    const r = await calibrate({
      config,
      instrumentId: 'ZJ-CAL-0001',
      durationMs: 12_000,
      out,
      err,
      log,
      abort: ac.signal,
      progressEveryMs: 4000,
      save,
    });
    if (process.env.DAYI_SHOW_REPORT) console.log(out.text);
    expect(r.exitCode, `${out.text}\n${err.text}`).toBe(0);
    const c = r.calibration!;
    expect(c.levels.map((l) => l.offLike)).toEqual([true, false, false]);
    const t = c.suggestion!.thresholds;
    expect(t.standby).toBeGreaterThan(0);
    expect(t.standby).toBeLessThan(15);
    expect(t.running).toBeGreaterThan(15);
    expect(t.running).toBeLessThan(900);
    // The report alone on out; progress and the saved file's name on err.
    expect(out.text).toMatch(/^Calibration of ZJ-CAL-0001 from a live recording: \d+ samples of power_w/);
    expect(out.text).toContain(
      '    state:\n      signal: power_w\n      aggregate: avg\n      window: 200ms\n',
    );
    expect(out.text).toMatch(/minDwell: 300ms\n/);
    expect(out.text).not.toContain('Recording');
    expect(err.text).toContain('Recording power_w of ZJ-CAL-0001 from simulated steps for 12 s');
    expect(err.text).toMatch(/\d+ samples of power_w, \d+ s left/);
    expect(err.text).toContain(`Recording saved to ${save} (analyse it again with --from-csv ${save})`);
    // The saved recording is the recording, and analyses to the same thresholds.
    const saved = parseCsvSeries(readFileSync(save, 'utf8'), 'power_w').samples;
    expect(saved).toEqual(r.samples);
    const again = await calibrate({
      config,
      source: { kind: 'csv', file: save },
      out: new Capture(),
      err: new Capture(),
    });
    expect(again.calibration!.suggestion).toEqual(c.suggestion);
  });

  it('ends early when aborted and reports what it has', async () => {
    const config = parseCalibrateConfig(configText(FAST_STATE), { env: {} });
    const out = new Capture();
    const err = new Capture();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 12_000);
    const r = await calibrate({
      config,
      durationMs: 3_600_000,
      out,
      err,
      log,
      abort: ac.signal,
      save: false,
    });
    expect(r.exitCode, out.text + err.text).toBe(0);
    expect(err.text).toMatch(/Recording ended \(aborted\) after \d+ s; analysing \d+ samples\./);
    expect(out.text).toContain('Suggested state for ZJ-CAL-0001');
  });

  it('refuses an unknown instrument on err, naming the ones there are', async () => {
    const out = new Capture();
    const err = new Capture();
    const code = await runCalibrate({
      config: parseCalibrateConfig(configText(), { env: {} }),
      configFile: 'agent.yaml',
      instrumentId: 'NOPE',
      durationMs: 1000,
      out,
      err,
      log,
    });
    expect(code).toBe(1);
    expect(out.text).toBe('');
    expect(err.text).toBe('dayi agent calibrate: no instrument "NOPE" in agent.yaml; it has: ZJ-CAL-0001\n');
  });

  it('says on err which metrics arrived when none is the signal', async () => {
    const out = new Capture();
    const err = new Capture();
    const code = await runCalibrate({
      config: parseCalibrateConfig(configText(), { env: {} }),
      signal: 'temperature_c',
      durationMs: 300,
      out,
      err,
      log,
      abort: new AbortController().signal,
    });
    expect(code).toBe(1);
    expect(out.text).toBe('');
    expect(err.text).toContain(
      'no reading carried temperature_c; the inputs gave current_a, power_w, voltage_v',
    );
  });
});

describe('dayi agent calibrate from recorded data', () => {
  it('reads a CSV (gzipped too) and gives what the analysis of the same samples gives', async () => {
    const file = join(FIXTURES, 'tracebase/refrigerator.csv.gz');
    const out = new Capture();
    const err = new Capture();
    const r = await calibrate({ source: { kind: 'csv', file }, out, err });
    expect(r.exitCode).toBe(0);
    expect(err.text).toBe('');
    expect(out.text).toMatch(/^Calibration of refrigerator\.csv\.gz: 34847 samples of power_w over 24 h/);
    expect(r.samples).toEqual(parseCsvSeries(gunzipSync(readFileSync(file)).toString(), 'power_w').samples);
    expect(r.calibration!.suggestion!.hours.runningHours).toBeGreaterThan(6.2);
  });

  it('names the line of a bad CSV row, on err', async () => {
    const file = join(root, 'bad.csv');
    writeFileSync(file, 'ts,power_w\n1700000000,5\n1700000001,five\n');
    const out = new Capture();
    const err = new Capture();
    const code = await runCalibrate({ source: { kind: 'csv', file }, out, err });
    expect(code).toBe(1);
    expect(out.text).toBe('');
    expect(err.text).toBe(`dayi agent calibrate: ${file}: line 3: value "five" is not a number\n`);
    const missing = new Capture();
    expect(await runCalibrate({ source: { kind: 'csv', file: join(root, 'nope.csv') }, err: missing })).toBe(
      1,
    );
    expect(missing.text).toMatch(/cannot read .*nope\.csv: ENOENT/);
  });

  it('reads the telemetry waiting in the agent’s outbox', async () => {
    const dir = join(root, 'outbox');
    const box = Outbox.open(join(dir, 'ZJ-CAL-0001'), { maxBytes: 64 * 1024 ** 2, fsync: false });
    // Six hours of 10 s telemetry: off, then 2 h at 200 W, off again.
    const t0 = 1_764_000_000_000;
    for (let i = 0; i < 6 * 360; i++) {
      const on = i >= 2 * 360 && i < 4 * 360;
      box.append('telemetry', {
        ts: t0 + i * 10_000,
        metrics: { power_w: on ? 200 + (i % 3) : i % 2 ? 1 : 0 },
      });
      if (i % 100 === 0)
        box.append('state', { ts: t0 + i * 10_000, state: 'off', since: t0, source: 'power_w' });
    }
    box.close();
    const out = new Capture();
    const r = await calibrate({
      config: parseCalibrateConfig(configText(), { env: {} }),
      source: { kind: 'outbox', dir },
      out,
      err: new Capture(),
    });
    expect(r.exitCode, out.text).toBe(0);
    expect(r.samples).toHaveLength(6 * 360);
    expect(out.text).toContain(`from the outbox in ${dir}`);
    expect(r.calibration!.suggestion!.hours.runningHours).toBeCloseTo(2, 1);
    const empty = new Capture();
    expect(await runCalibrate({ source: { kind: 'outbox', dir: root }, instrumentId: 'X', err: empty })).toBe(
      1,
    );
    expect(empty.text).toMatch(/no outbox segments/);
  });
});

describe('live recording and --from-csv agree on the same data', () => {
  it('a real freezer trace replayed through a serial port gives the thresholds its CSV gives', async () => {
    // Eight hours of the evaluation set's freezer (tracebase, 4 s sampling, 0/2 W dither, inrush).
    const all = parseCsvSeries(
      gunzipSync(readFileSync(join(FIXTURES, 'tracebase/freezer-a.csv.gz'))).toString(),
      'power_w',
    ).samples;
    const trace = all.filter((s) => s.ts < all[0]!.ts + 8 * 3_600_000);
    const csv = join(root, 'freezer-8h.csv');
    writeFileSync(csv, `ts,power_w\n${trace.map((s) => `${s.ts},${s.value}`).join('\n')}\n`);

    const pty = await startPtyPair();
    try {
      const config = parseCalibrateConfig(
        `instruments:
  - id: ZJ-FREEZER-1
    inputs:
      - { type: serial, path: ${pty.port}, baudRate: 115200, format: { regex: "P=(?<power_w>[0-9.]+)" } }
`,
        { env: {} },
      );
      // The sensor's clock is the trace's: each line is stamped with its original time, one line
      // at a time (the next is written once the recorder has the previous one).
      let clock = trace[0]!.ts;
      let received = 0;
      let wake: (() => void) | null = null;
      const ac = new AbortController();
      const err = new Capture();
      const live = calibrate({
        config,
        durationMs: 3_600_000,
        out: new Capture(),
        err,
        log,
        abort: ac.signal,
        now: () => clock,
        save: join(root, 'freezer-live.csv'),
        onSample: () => {
          received++;
          wake?.();
        },
      });
      // The input opens the port asynchronously: a line it cannot parse, reported at once, says
      // that it reads.
      for (let i = 0; !err.text.includes('  ! '); i++) {
        if (i > 200) throw new Error(`the serial input did not start reading: ${err.text}`);
        pty.write('warming up\n');
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const [k, s] of trace.entries()) {
        clock = s.ts;
        const want = k + 1;
        const arrived = new Promise<void>((resolve) => {
          wake = () => received >= want && resolve();
        });
        pty.write(`P=${s.value}\n`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          arrived,
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`line ${k + 1} was not read within 20 s`)), 20_000);
          }),
        ]);
        clearTimeout(timer);
      }
      ac.abort();
      const recorded = await live;
      const fromCsv = await calibrate({
        source: { kind: 'csv', file: csv },
        out: new Capture(),
        err: new Capture(),
      });
      expect(recorded.samples).toEqual(trace);
      const a = recorded.calibration!;
      const b = fromCsv.calibration!;
      expect(a.suggestion!.thresholds).toEqual(b.suggestion!.thresholds);
      expect(a.suggestion!.hysteresis).toBe(b.suggestion!.hysteresis);
      expect(a.levels).toEqual(b.levels);
      expect(a.suggestion!.hours).toEqual(b.suggestion!.hours);
      // And they are right: standby above the dither, the inrush not running.
      expect(a.suggestion!.thresholds.running).toBeLessThan(150);
      expect(a.suggestion!.thresholds.standby * (1 - a.suggestion!.hysteresis)).toBeGreaterThan(2);
      expect(parseYaml(readFileSync(join(root, 'freezer-live.csv'), 'utf8').split('\n')[0]!)).toBe(
        'ts,power_w',
      );
    } finally {
      await pty.close();
    }
  }, 600_000);
});
