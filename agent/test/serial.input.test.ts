import { readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileLineFormat, parseLine } from '@dayi/protocols/serial/index.ts';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { diskProfiles } from '../src/inputs/profiles-load.ts';
import { createSerialInput, type SerialInput } from '../src/inputs/serial/index.ts';
import { serialInputSchema } from '../src/inputs/serial/schema.ts';
import { type PtyPair, startPtyPair } from './helpers/serial-pty.ts';
import { RecordingSink } from './helpers/serial-sink.ts';

const deps = {
  instrumentId: 'ZJ-TEST-0001',
  log: pino({ level: 'silent' }),
  profiles: diskProfiles('firmware-configs'),
};
const inputDir = join(import.meta.dirname, '../src/inputs/serial');

function configFor(path: string, extra: Record<string, unknown> = {}) {
  return serialInputSchema.parse({
    type: 'serial',
    path,
    baudRate: 115200,
    format: { regex: 'I=(?<current_a>[0-9.]+)(?: P=(?<power_w>[0-9.]+))?' },
    ...extra,
  });
}

describe('serial input over a real pty pair (socat)', () => {
  let pty: PtyPair;
  let input: SerialInput | undefined;

  beforeEach(async () => {
    pty = await startPtyPair();
  });
  afterEach(async () => {
    await input?.stop();
    input = undefined;
    await pty.close();
  });

  it('emits one reading per sensor line, whatever the line end', async () => {
    input = createSerialInput(configFor(pty.port), deps);
    const sink = new RecordingSink();
    await input.start(sink);
    expect(input.link().connected).toBe(true);
    pty.write('I=1.5 P=345\r\nI=2');
    pty.write('.25\nI=0.1\r');
    await sink.waitFor('three readings', (s) => s.readings.length >= 3);
    expect(sink.readings.map((r) => r.metrics)).toEqual([
      { current_a: 1.5, power_w: 345 },
      { current_a: 2.25 },
      { current_a: 0.1 },
    ]);
    expect(sink.errors).toEqual([]);
  });

  it('counts garbage lines without stopping, and reports the first with its path and baud rate', async () => {
    input = createSerialInput(configFor(pty.port), deps);
    const sink = new RecordingSink();
    await input.start(sink);
    pty.write('boot v1.2\r\nI=1.2.3\r\n\u0000\u00ff~~\r\nI=3\r\n');
    await sink.waitFor('the reading after the garbage', (s) => s.readings.length >= 1);
    expect(sink.readings[0]?.metrics).toEqual({ current_a: 3 });
    expect(input.stats()).toMatchObject({ lines: 4, readings: 1, unmatched: 2, notANumber: 1 });
    // One report, not one per line.
    expect(sink.errors).toHaveLength(1);
    expect(sink.errors[0]?.message).toMatch(/line does not match the format/);
    expect(sink.errors[0]?.context).toMatchObject({ path: pty.port, baudRate: 115200, line: 'boot v1.2' });
    expect(input.link().connected).toBe(true);
  });

  it('survives the device disappearing and coming back', async () => {
    input = createSerialInput(configFor(pty.port), deps, { reopen: { initialMs: 100, maxMs: 400 } });
    const sink = new RecordingSink();
    await input.start(sink);
    pty.write('I=1\n');
    await sink.waitFor('a reading before the unplug', (s) => s.readings.length === 1);

    await pty.unplug();
    await sink.waitFor('the disconnect to be reported', (s) =>
      s.errors.some((e) => /device disconnected/.test(e.message)),
    );
    expect(input.link()).toMatchObject({ connected: false, lastError: expect.stringContaining(pty.port) });
    // While it is gone, reopening fails and says why, with the path.
    await sink.waitFor('a failed reopen', (s) => s.errors.some((e) => /cannot open/.test(e.message)));
    const failed = sink.errors.find((e) => /cannot open/.test(e.message));
    expect(failed?.context).toMatchObject({ path: pty.port, baudRate: 115200 });

    await pty.plug();
    const link = input;
    await sink.waitFor('the port to be reopened', () => link.link().connected);
    pty.write('I=2\n');
    await sink.waitFor('a reading after the replug', (s) => s.readings.length === 2);
    expect(sink.readings[1]?.metrics).toEqual({ current_a: 2 });
    expect(input.stats().reopens).toBeGreaterThanOrEqual(1);
  });

  it('notices the device file vanishing (a by-id link removed on unplug) and reopens when it is back', async () => {
    const link = join(dirname(pty.port), 'by-id-sensor');
    symlinkSync(pty.port, link);
    input = createSerialInput(configFor(link), deps, { reopen: { initialMs: 100, maxMs: 200 } });
    const sink = new RecordingSink();
    await input.start(sink);
    pty.write('I=1\n');
    await sink.waitFor('a reading', (s) => s.readings.length === 1);
    unlinkSync(link);
    await sink.waitFor('the vanished device to be reported', (s) =>
      s.errors.some(
        (e) => e.message === `serial ${link} (115200 baud): device disconnected: the device file is gone`,
      ),
    );
    expect(input.link().connected).toBe(false);
    symlinkSync(pty.port, link);
    const i = input;
    await sink.waitFor('the port to be reopened', () => i.link().connected);
    pty.write('I=2\n');
    await sink.waitFor('a reading after the link came back', (s) => s.readings.length === 2);
  });

  it('reports a missing device at start and opens it once it appears', async () => {
    await pty.unplug();
    input = createSerialInput(configFor(pty.port), deps, { reopen: { initialMs: 100, maxMs: 200 } });
    const sink = new RecordingSink();
    await input.start(sink);
    expect(input.link().connected).toBe(false);
    expect(sink.errors[0]?.message).toContain(`serial ${pty.port} (115200 baud): cannot open`);
    await pty.plug();
    const i = input;
    await sink.waitFor('the port to open', () => i.link().connected);
    pty.write('I=7\n');
    await sink.waitFor('a reading', (s) => s.readings.length === 1);
  });

  it('averages the lines of each period when `every` is set', async () => {
    input = createSerialInput(configFor(pty.port, { every: '300ms' }), deps);
    const sink = new RecordingSink();
    await input.start(sink);
    pty.write('I=1\nI=2\nI=3 P=10\n');
    await sink.waitFor('an averaged reading', (s) => s.readings.length >= 1);
    expect(sink.readings[0]?.metrics).toEqual({ current_a: 2, power_w: 10 });
  });

  it('stops idempotently and emits nothing afterwards', async () => {
    input = createSerialInput(configFor(pty.port), deps);
    const sink = new RecordingSink();
    await input.start(sink);
    await input.stop();
    await input.stop();
    expect(input.link().connected).toBe(false);
    pty.write('I=1\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.readings).toEqual([]);
  });
});

describe('serial input configuration', () => {
  const issues = (cfg: unknown) => {
    const r = serialInputSchema.safeParse(cfg);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('fills the usual 9600 8N1 defaults', () => {
    expect(
      serialInputSchema.parse({ type: 'serial', path: 'COM3', format: { regex: '(?<power_w>\\d+)' } }),
    ).toEqual({
      type: 'serial',
      path: 'COM3',
      baudRate: 9600,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      format: { regex: '(?<power_w>\\d+)' },
    });
  });

  it('names the path of each error', () => {
    expect(
      issues({ type: 'serial', path: '/dev/ttyACM0', format: { regex: 'I=(?<current_a>[0-9.]+' } }),
    ).toEqual([expect.stringMatching(/^format\.regex: regex does not compile/)]);
    expect(issues({ type: 'serial', path: '/dev/ttyACM0', format: { regex: 'I=([0-9.]+)' } })).toEqual([
      expect.stringMatching(/^format\.regex: regex has no named group/),
    ]);
    expect(issues({ type: 'serial', path: '/dev/ttyACM0', format: { regex: '(?<Amps>\\d+)' } })).toEqual([
      expect.stringMatching(/^format\.regex: named group "Amps" is not a metric name/),
    ]);
    expect(
      issues({
        type: 'serial',
        path: '/dev/ttyACM0',
        format: { regex: '(?<current_a>\\d+)', scale: { power_w: 2 } },
      }),
    ).toEqual(['format.scale.power_w: the regex has no group named power_w']);
    expect(
      issues({
        type: 'serial',
        path: '',
        baudRate: -1,
        parity: 'weird',
        format: { regex: '(?<current_a>\\d+)' },
        every: 'often',
      }),
    ).toEqual([
      'path: path of the serial device is required',
      expect.stringMatching(/^baudRate: /),
      expect.stringMatching(/^parity: /),
      expect.stringMatching(/^every: invalid duration "often"/),
    ]);
  });

  it('accepts its sample config, and the sample format reads the README example', () => {
    const sample = parseYaml(readFileSync(join(inputDir, 'sample.yaml'), 'utf8'));
    const inputs = sample.instruments[0].inputs as unknown[];
    const serial = serialInputSchema.parse(inputs.find((i) => (i as { type: string }).type === 'serial'));
    const readme = readFileSync(join(inputDir, 'README.md'), 'utf8');
    for (const h of ['## Configuration', '## Metrics', '## Example output', '## Troubleshooting']) {
      expect(readme).toContain(h);
    }
    // The README shows a sensor line and the reading it gives; check that they agree with the sample.
    const line = /Sensor line: `([^`]+)`/.exec(readme)?.[1];
    const metrics = /Reading metrics: `([^`]+)`/.exec(readme)?.[1];
    expect(line, 'README example sensor line').toBeDefined();
    const format = compileLineFormat(serial.format);
    if (!format.ok) throw new Error(format.reason);
    expect(parseLine(format.format, line!)).toEqual({ ok: true, metrics: JSON.parse(metrics!) });
  });
});
