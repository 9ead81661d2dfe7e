/**
 * The runtime and the `dayi agent` command, end to end against a real Mosquitto.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decodePayload, type Status } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { agentCommand } from '../src/cli.ts';
import { parseAgentConfig } from '../src/config.ts';
import { startAgent } from '../src/runtime.ts';
import { type Mosquitto, mosquittoSub, sleep, startMosquitto } from './helpers/mosquitto.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-runtime-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});
const REPO = join(import.meta.dirname, '..', '..');

async function broker(): Promise<Mosquitto> {
  const m = await startMosquitto();
  cleanups.push(() => m.close());
  return m;
}

async function statusOf(port: number, id: string): Promise<Status | undefined> {
  const [msg] = await mosquittoSub({ port, topics: [`dayi/v1/${id}/status`], count: 1, timeoutSeconds: 2 });
  if (!msg) return undefined;
  const d = decodePayload('status', msg.payload);
  if (!d.ok) throw new Error(d.reason);
  return d.payload;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

function captureIo() {
  let out = '';
  let err = '';
  return {
    io: {
      out: (s: string) => {
        out += s;
      },
      err: (s: string) => {
        err += s;
      },
    },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

describe('agent runtime', () => {
  it('a failing input is reported with context in status and logs; the other inputs go on', async () => {
    const m = await broker();
    const logs: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, cb) {
          logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const cfg = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "${m.url}" }
outbox: { dir: "${join(root, 'failing')}", fsync: false }
instruments:
  - id: MIX-1
    publishEvery: 300ms
    inputs:
      - { type: serial, path: /dev/ttyDAYI-does-not-exist, baudRate: 9600, format: { regex: "I=(?<current_a>[0-9.]+)" } }
      - { type: simulated, name: plug, pattern: constant, every: 100ms }
    state: { signal: power_w, thresholds: { standby: 5, idle: 80, running: 400 }, minDwell: 0s, window: 1s }
`);
    const agent = await startAgent(cfg, { log });
    cleanups.push(() => agent.stop());
    const status = await waitFor('status with both inputs and the serial error', async () => {
      const s = await statusOf(m.port, 'MIX-1');
      return s?.inputs?.length === 2 && s.inputs[0]?.lastError && s.inputs[1]?.connected ? s : undefined;
    });
    const [serial, plug] = status.inputs!;
    expect(serial).toMatchObject({ type: 'serial', connected: false });
    expect(serial!.lastError).toMatch(/ttyDAYI-does-not-exist|No such file/);
    expect(plug).toMatchObject({ name: 'plug', type: 'simulated', connected: true });
    const telemetry = await mosquittoSub({ port: m.port, topics: ['dayi/v1/MIX-1/telemetry'], count: 2 });
    expect(telemetry).toHaveLength(2);
    const t = decodePayload('telemetry', telemetry[0]!.payload);
    expect(t.ok && t.payload).toMatchObject({ state: 'running', metrics: { power_w: expect.any(Number) } });
    const inputError = logs.find((l) => l.msg === 'input error');
    expect(inputError).toMatchObject({ instrumentId: 'MIX-1', input: serial!.name });
    await agent.stop();
  });
});

/** A logger keeping its warnings and errors, as parsed JSON lines. */
function warnings() {
  const logs: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { logs, log };
}

describe('agent runtime misconfiguration', () => {
  it('warns once when no input provides the state signal', async () => {
    const { logs, log } = warnings();
    const cfg = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "mqtt://127.0.0.1:1" }
outbox: { dir: "${join(root, 'nosignal')}", fsync: false }
instruments:
  - id: SIG-1
    publishEvery: 200ms
    inputs: [ { type: simulated, pattern: constant, every: 100ms } ]
    state: { signal: current_x, thresholds: { standby: 0.1, idle: 0.5, running: 2 } }
`);
    const agent = await startAgent(cfg, { log });
    await sleep(1000);
    await agent.stop();
    const signalWarnings = logs.filter((l) => String(l.msg).startsWith('no input provides current_x'));
    expect(signalWarnings).toHaveLength(1);
    expect(signalWarnings[0]).toMatchObject({
      instrumentId: 'SIG-1',
      metrics: ['power_w', 'current_a', 'voltage_v'],
    });
  });

  it('does not warn about the signal for a period with no readings at all (a slow input, the stop)', async () => {
    const { logs, log } = warnings();
    const cfg = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "mqtt://127.0.0.1:1" }
outbox: { dir: "${join(root, 'slowinput')}", fsync: false }
instruments:
  - id: SLOW-1
    publishEvery: 100ms
    inputs: [ { type: simulated, pattern: constant, every: 1s } ]
    state: { signal: power_w, window: 100ms, minDwell: 0s, thresholds: { standby: 5, idle: 80, running: 400 } }
`);
    const agent = await startAgent(cfg, { log });
    await sleep(600);
    await agent.stop();
    expect(logs.filter((l) => String(l.msg).startsWith('no input provides'))).toEqual([]);
  });
});

describe('agent runtime without a state block', () => {
  it('sends metrics only, and a vendor fault still as a vendor_fault event', async () => {
    const m = await broker();
    const cfg = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "${m.url}" }
outbox: { dir: "${join(root, 'nostate')}", fsync: false }
instruments:
  - id: PLAIN-1
    publishEvery: 300ms
    inputs:
      - { type: simulated, pattern: steps, every: 100ms, steps: [ { watts: 900, for: 1s }, { watts: 20, for: 1s, state: fault } ] }
`);
    const agent = await startAgent(cfg, { log: pino({ level: 'silent' }) });
    cleanups.push(() => agent.stop());
    const [event] = await mosquittoSub({
      port: m.port,
      topics: ['dayi/v1/PLAIN-1/event'],
      count: 1,
      timeoutSeconds: 10,
    });
    const e = decodePayload('event', event!.payload);
    expect(e.ok && e.payload).toMatchObject({ type: 'vendor_fault', severity: 'warning', seq: 1 });
    const tel = await mosquittoSub({ port: m.port, topics: ['dayi/v1/PLAIN-1/telemetry'], count: 3 });
    for (const t of tel) {
      const d = decodePayload('telemetry', t.payload);
      expect(d.ok && d.payload.state).toBeUndefined();
    }
    expect(
      await mosquittoSub({ port: m.port, topics: ['dayi/v1/PLAIN-1/state'], timeoutSeconds: 1 }),
    ).toEqual([]);
    await agent.stop();
  });
});

describe('dayi agent command', () => {
  it('an outbox that cannot be created is a clear error naming the instrument and the folder', async () => {
    const blocker = join(root, 'not-a-folder');
    writeFileSync(blocker, 'a file where the outbox folder should be');
    const file = join(root, 'blocked.yaml');
    writeFileSync(
      file,
      `agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1" }\noutbox: { dir: "${blocker}" }\ninstruments: [ { id: BLK-1, inputs: [ { type: simulated } ] } ]\n`,
    );
    const c = captureIo();
    expect(await agentCommand(['-c', file], c.io)).toBe(1);
    expect(c.err).toContain(`instrument BLK-1: cannot open its outbox in ${join(blocker, 'BLK-1')}`);
  });

  it('warns when its config holds the MQTT password and other users may read it', async () => {
    const yaml = (password: string) =>
      `agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1", username: a, password: "${password}" }\ninstruments: [ { id: A, inputs: [ { type: simulated } ] } ]\n`;
    const open = join(root, 'readable.yaml');
    writeFileSync(open, yaml('plain-password'));
    chmodSync(open, 0o644);
    // `status` and `calibrate` read the config too (an unknown --instrument ends calibrate at once)
    for (const args of [
      ['status', '-c', open],
      ['calibrate', '-c', open, '--instrument', 'NOPE'],
    ]) {
      const warned = captureIo();
      await agentCommand(args, warned.io);
      expect(warned.err, args[0]).toContain(
        `${open} holds secrets (mqtt password) and is readable by every local user (mode 0644)`,
      );
    }
    // 0600, or the password from the environment: no warning
    const closed = join(root, 'private.yaml');
    writeFileSync(closed, yaml('plain-password'), { mode: 0o600 });
    const env = join(root, 'env.yaml');
    writeFileSync(env, yaml('${AGENT_PW:-x}'));
    chmodSync(env, 0o644);
    for (const f of [closed, env]) {
      const quiet = captureIo();
      await agentCommand(['status', '-c', f], quiet.io);
      expect(quiet.err, f).not.toContain('holds secrets');
    }
  });

  it('--help explains the command; -c is required; unknown subcommands are refused', async () => {
    const help = captureIo();
    expect(await agentCommand(['--help'], help.io)).toBe(0);
    expect(help.out).toContain('dayi agent -c agent.yaml');
    expect(help.out).toContain('simulated');
    const none = captureIo();
    expect(await agentCommand([], none.io)).toBe(2);
    expect(none.err).toContain('-c agent.yaml is required');
    const unknown = captureIo();
    expect(await agentCommand(['fly', '-c', 'x.yaml'], unknown.io)).toBe(2);
    expect(unknown.err).toContain('unknown command "fly"');
    const calib = captureIo();
    const file = join(root, 'ok.yaml');
    writeFileSync(
      file,
      'agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1" }\ninstruments: [ { id: A, inputs: [ { type: simulated } ] }, { id: B, inputs: [ { type: simulated } ] } ]\n',
    );
    // With several instruments, calibrate needs to be told which (with one, it takes that one).
    expect(await agentCommand(['calibrate', '-c', file], calib.io)).toBe(2);
    expect(calib.err).toContain('has 2 instruments: name one with --instrument ID (A, B)');
    expect(calib.out).toBe('');
  });

  it('install and uninstall go to the service module with their own options (a dry run changes nothing)', async () => {
    const file = join(root, 'svc.yaml');
    writeFileSync(
      file,
      'agent: { id: svc }\nmqtt: { url: "mqtt://127.0.0.1:1" }\ninstruments: [ { id: A, inputs: [ { type: simulated } ] } ]\n',
    );
    const c = captureIo();
    const unitDir = join(root, 'units');
    expect(
      await agentCommand(
        ['install', '-c', file, '--dry-run', '--unit-dir', unitDir, '--user', 'nobody'],
        c.io,
      ),
    ).toBe(0);
    expect(c.out).toContain(join(unitDir, 'dayi-agent-svc.service'));
    const wrongPlace = captureIo();
    expect(await agentCommand(['-c', file, 'install'], wrongPlace.io)).toBe(2);
    expect(wrongPlace.err).toContain('dayi agent install -c agent.yaml');
  });

  it('a bad config prints every error with its path and exits 1', async () => {
    const file = join(root, 'bad.yaml');
    writeFileSync(
      file,
      'agent: { id: a }\nmqtt: { url: "mqtt://x:1" }\ninstruments: [ { id: A, inputs: [ { type: nope } ] } ]\n',
    );
    const c = captureIo();
    expect(await agentCommand(['-c', file], c.io)).toBe(1);
    expect(c.err).toContain(file);
    expect(c.err).toContain('instruments.0.inputs.0.type');
  });

  it('`dayi agent -c agent.yaml` runs until SIGTERM, then stops cleanly with status online:false', async () => {
    const m = await broker();
    const file = join(root, 'run.yaml');
    writeFileSync(
      file,
      `agent: { id: cli-agent }
mqtt: { url: "${m.url}" }
outbox: { dir: ./run-outbox, fsync: false }
log: { level: warn }
instruments:
  - { id: CLI-1, publishEvery: 500ms, inputs: [ { type: simulated, pattern: constant } ] }
`,
    );
    const child = spawn(process.execPath, [join(REPO, 'bin', 'dayi.js'), 'agent', '-c', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitFor(`status online:true from the CLI agent (stderr: ${stderr})`, async () =>
      (await statusOf(m.port, 'CLI-1'))?.online === true ? true : undefined,
    );
    const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(await statusOf(m.port, 'CLI-1')).toMatchObject({ online: false, agent: { id: 'cli-agent' } });
  });
});
