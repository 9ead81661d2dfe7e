/**
 * The agent bundle (agent/build.js) is the agent: built into a folder of its own beside agent/dist
 * (it finds firmware-configs/ and its sources two folders up, as agent/dist does), started as the
 * service starts it (the service's Node flags and environment, `-c agent.yaml`), it reads an SDM630
 * on Modbus TCP and publishes its watts and status to a real Mosquitto, seen by mosquitto_sub. A
 * bundle whose sources changed since it was built says so and runs the sources instead.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, parseTopic } from '@dayi/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModbusProfile } from '../src/inputs/modbus/profiles.ts';
import { AGENT_NODE_FLAGS, AGENT_SERVICE_ENV } from '../src/service/node-flags.ts';
import { layoutFromProfile, type SimulatedDevice, startModbusDevice } from './helpers/modbus-device.ts';
import { type Mosquitto, sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';

const AGENT_DIR = new URL('..', import.meta.url).pathname;
const PROFILES_DIR = new URL('../../firmware-configs/', import.meta.url).pathname;
const USER = { username: 'lab3-pc7', password: 'pw-for-bundle-tests' };
const ID = 'ZJ-BUNDLE-0001';

// Its own folder (gitignored), not agent/dist: other tests and a running service may use that one.
const outDir = join(AGENT_DIR, `.bundle-test-${process.pid}`);
const dir = mkdtempSync(join(tmpdir(), 'dayi-bundle-'));
let broker: Mosquitto;
let meter: SimulatedDevice;
const agents: ChildProcess[] = [];
const subscribers: { stop: () => Promise<void> }[] = [];

beforeAll(async () => {
  const build = spawnSync(process.execPath, [join(AGENT_DIR, 'build.js'), '--out-dir', outDir], {
    encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
  broker = await startMosquitto({ users: [USER] });
  meter = await startModbusDevice(
    layoutFromProfile(loadModbusProfile(PROFILES_DIR, 'eastron-sdm630'), { power_w: 1234.5 }),
    { tcp: true },
  );
  writeFileSync(
    join(dir, 'agent.yaml'),
    `agent: { id: lab3-pc7 }
mqtt: { url: "${broker.url}", username: ${USER.username}, password: "\${DAYI_AGENT_PW}" }
outbox: { dir: ./outbox, fsync: false }
instruments:
  - id: ${ID}
    publishEvery: 500ms
    inputs:
      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${meter.port}, profile: eastron-sdm630, every: 100ms }
    state: { signal: power_w, window: 300ms, thresholds: { standby: 5, idle: 80, running: 400 }, minDwell: 300ms }
`,
  );
}, 60_000);

afterAll(async () => {
  for (const a of agents) if (a.exitCode === null) a.kill('SIGKILL');
  // A failed run leaves its subscriber running; stopping one twice is harmless.
  await Promise.all(subscribers.map((s) => s.stop().catch(() => {})));
  await meter?.stop();
  await broker?.close();
  rmSync(outDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the bundle as the service does; resolves once its telemetry and status are seen. */
async function runBundle(): Promise<{ pid: number; logs: () => string; stop: () => Promise<number | null> }> {
  const sub = startSubscriber({ port: broker.port, topics: [`dayi/v1/${ID}/#`], ...USER });
  subscribers.push(sub);
  const agent = spawn(
    process.execPath,
    [...AGENT_NODE_FLAGS, join(outDir, 'dayi-agent.mjs'), '-c', join(dir, 'agent.yaml')],
    {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', ...AGENT_SERVICE_ENV, DAYI_AGENT_PW: USER.password },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  agents.push(agent);
  let logs = '';
  agent.stdout?.on('data', (d: Buffer) => {
    logs += d.toString();
  });
  agent.stderr?.on('data', (d: Buffer) => {
    logs += d.toString();
  });
  const seen = () => {
    const msgs = sub.messages().map((m) => {
      const t = parseTopic(m.topic)!;
      const d = decodePayload(t.kind, m.payload);
      if (!d.ok) throw new Error(`${m.topic}: ${d.reason}`);
      return { kind: t.kind, body: d.payload as Record<string, unknown> };
    });
    const telemetry = msgs.find((m) => m.kind === 'telemetry');
    const state = msgs.find((m) => m.kind === 'state');
    // The first status may come before the first read: wait for the input to be connected.
    const online = msgs.find(
      (m) =>
        m.kind === 'status' &&
        m.body.online === true &&
        (m.body.inputs as { connected: boolean }[]).every((i) => i.connected),
    );
    return telemetry && state && online ? { telemetry, state, online } : undefined;
  };
  const deadline = Date.now() + 30_000;
  let got = seen();
  while (!got) {
    if (agent.exitCode !== null) throw new Error(`the bundle exited with ${agent.exitCode}:\n${logs}`);
    if (Date.now() > deadline) throw new Error(`no telemetry, state and status within 30 s:\n${logs}`);
    await sleep(100);
    got = seen();
  }
  expect((got.telemetry.body.metrics as Record<string, number>).power_w).toBeCloseTo(1234.5, 1);
  expect(got.state.body.state).toBe('running');
  expect(got.online.body.inputs).toEqual([expect.objectContaining({ type: 'modbus', connected: true })]);
  return {
    pid: agent.pid!,
    logs: () => logs,
    async stop() {
      const exited = new Promise<number | null>((r) => agent.once('exit', (c) => r(c)));
      agent.kill('SIGTERM');
      const code = await exited;
      await sub.stop();
      return code;
    },
  };
}

describe('the agent bundle', () => {
  it('runs as the agent: reads the meter, publishes watts, state and status, stops cleanly', async () => {
    const run = await runBundle();
    // Two steps in one process: the config was checked, then the process replaced itself (same
    // PID, so systemd's unit and journal follow it) with one handed the checked config.
    const environ = readFileSync(`/proc/${run.pid}/environ`, 'latin1').split('\0');
    expect(environ).toContain('DAYI_AGENT_HANDOFF=1');
    expect(await run.stop(), run.logs()).toBe(0);
    // Its log is the agent's JSON lines, from that PID, and it ran the bundle (no stale-bundle notice).
    expect(run.logs()).toContain(`"pid":${run.pid},`);
    expect(run.logs()).toContain('"name":"dayi-agent"');
    expect(run.logs()).not.toContain('running the sources instead');
    expect(run.logs()).not.toContain('running in this process');
  }, 60_000);

  it('says what is wrong with a config, with its path, and exits 1 without starting', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(join(dir, 'agent.yaml'), 'utf8').replace('{ type: modbus,', '{ type: modbuss,'),
    );
    const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, join(outDir, 'dayi-agent.mjs'), '-c', bad], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', ...AGENT_SERVICE_ENV, DAYI_AGENT_PW: USER.password },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('instruments.0.inputs.0.type');
  });

  it('runs the sources instead when a source changed after the build, and says so', async () => {
    const manifestFile = join(outDir, 'dayi-agent.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      sources: { path: string; crc32: number }[];
    };
    const runtime = manifest.sources.find((s) => s.path === 'agent/src/runtime.ts');
    expect(runtime, 'the manifest lists the bundled sources').toBeDefined();
    // As if runtime.ts had been edited since: its recorded CRC no longer matches the file.
    runtime!.crc32 = (runtime!.crc32 + 1) >>> 0;
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const run = await runBundle();
    expect(await run.stop(), run.logs()).toBe(0);
    expect(run.logs()).toContain(
      'agent/src/runtime.ts changed after the bundle was built; running the sources instead',
    );
  }, 60_000);
});
