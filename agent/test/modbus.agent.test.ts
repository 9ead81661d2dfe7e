/**
 * End to end, as the issue's "done when" puts it: an agent configured as in SPEC reads a simulated
 * SDM630 over Modbus TCP, an SDM120 over RTU (socat pty pair) and two DTSU666 behind one TCP gateway,
 * publishes the right watts to a real Mosquitto, and the right states as the meters' power changes.
 * Checked from the broker's side with mosquitto_sub.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, parseTopic, type TopicKind } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.ts';
import { loadModbusProfile } from '../src/inputs/modbus/profiles.ts';
import { startAgent } from '../src/runtime.ts';
import { layoutFromProfile, startModbusDevice, startPtyPair } from './helpers/modbus-device.ts';
import { PROFILES_DIR } from './helpers/modbus-sink.ts';
import { type SubMessage, sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-modbus-agent-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const USER = { username: 'lab3-pc7', password: 'pw-for-modbus-tests' };
const sdm630 = loadModbusProfile(PROFILES_DIR, 'eastron-sdm630');
const sdm120 = loadModbusProfile(PROFILES_DIR, 'eastron-sdm120');
const dtsu666 = loadModbusProfile(PROFILES_DIR, 'chint-dtsu666');

interface Decoded {
  kind: TopicKind;
  instrumentId: string;
  retained: boolean;
  body: Record<string, unknown>;
}

function decodeAll(msgs: SubMessage[]): Decoded[] {
  return msgs.map((m) => {
    const t = parseTopic(m.topic);
    if (!t) throw new Error(`not a dayi topic: ${m.topic}`);
    const d = decodePayload(t.kind, m.payload);
    if (!d.ok) throw new Error(`${m.topic}: ${d.reason}: ${m.payload}`);
    return {
      kind: t.kind,
      instrumentId: t.instrumentId,
      retained: m.retained,
      body: d.payload as Record<string, unknown>,
    };
  });
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('agent with Modbus meters and Mosquitto', () => {
  it('publishes the meters’ watts and the states that follow their power', async () => {
    const broker = await startMosquitto({ users: [USER] });
    cleanups.push(() => broker.close());

    const tcpMeter = await startModbusDevice(
      layoutFromProfile(sdm630, { power_w: 900.5, voltage_v: 230.1 }),
      { tcp: true },
    );
    cleanups.push(() => tcpMeter.stop());
    const pty = await startPtyPair();
    cleanups.push(() => pty.stop());
    const rtuMeter = await startModbusDevice(layoutFromProfile(sdm120, { power_w: 2.5 }), {
      serial: pty.device,
      baudRate: 2400,
    });
    cleanups.push(() => rtuMeter.stop());
    const gateway = await startModbusDevice(
      {
        ...layoutFromProfile(dtsu666, { power_w: 150.5 }, 1),
        ...layoutFromProfile(dtsu666, { power_w: 30.5 }, 2),
      },
      { tcp: true },
    );
    cleanups.push(() => gateway.stop());

    const state =
      '{ signal: power_w, window: 300ms, thresholds: { standby: 5, idle: 80, running: 400 }, minDwell: 300ms }';
    const config = parseAgentConfig(
      `
agent: { id: lab3-pc7 }
mqtt: { url: "${broker.url}", username: ${USER.username}, password: "\${DAYI_AGENT_PW}", reconnect: { min: 200ms, max: 1s } }
outbox: { dir: "${join(root, 'outbox')}", maxBytes: 4MiB, fsync: false }
instruments:
  - id: ZJ-NMR-0001
    publishEvery: 500ms
    inputs:
      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${tcpMeter.port}, unitId: 1, profile: eastron-sdm630, every: 100ms }
    state: ${state}
  - id: ZJ-FTIR-0002
    publishEvery: 500ms
    inputs:
      - { type: modbus, transport: rtu, path: "${pty.port}", unitId: 1, profile: eastron-sdm120, every: 100ms }
    state: ${state}
  - id: ZJ-XRD-0003
    publishEvery: 500ms
    inputs:
      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${gateway.port}, unitId: 1, profile: chint-dtsu666, every: 100ms }
    state: ${state}
  - id: ZJ-SEM-0004
    publishEvery: 500ms
    inputs:
      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${gateway.port}, unitId: 2, profile: chint-dtsu666, every: 100ms }
    state: ${state}
`,
      { env: { DAYI_AGENT_PW: USER.password } },
    );

    const sub = startSubscriber({
      port: broker.port,
      topics: ['dayi/v1/+/telemetry', 'dayi/v1/+/state', 'dayi/v1/+/status'],
      ...USER,
      args: ['-q', '1'],
    });
    cleanups.push(() => sub.stop());
    await sleep(300);
    const agent = await startAgent(config, { log: pino({ level: 'silent' }) });
    cleanups.push(() => agent.stop());

    const latestState = (id: string) =>
      decodeAll(sub.messages())
        .filter((m) => m.kind === 'state' && m.instrumentId === id)
        .at(-1)?.body.state as string | undefined;
    const watts = (id: string) =>
      decodeAll(sub.messages())
        .filter((m) => m.kind === 'telemetry' && m.instrumentId === id)
        .map((m) => (m.body.metrics as Record<string, number>).power_w ?? Number.NaN);

    const expected: Record<string, [number, string]> = {
      'ZJ-NMR-0001': [900.5, 'running'],
      'ZJ-FTIR-0002': [2.5, 'off'],
      'ZJ-XRD-0003': [150.5, 'idle'],
      'ZJ-SEM-0004': [30.5, 'standby'],
    };
    for (const [id, [w, s]] of Object.entries(expected)) {
      await waitFor(`${id} state ${s}`, () => (latestState(id) === s ? true : undefined));
      await waitFor(`${id} telemetry with power_w ${w}`, () =>
        watts(id).some((v) => Math.abs(v - w) < 0.01) ? true : undefined,
      );
    }

    // The retained status shows each Modbus input connected.
    const status = decodeAll(sub.messages())
      .filter((m) => m.kind === 'status' && m.instrumentId === 'ZJ-SEM-0004')
      .at(-1)!;
    expect(status.body).toMatchObject({ online: true, inputs: [{ type: 'modbus', connected: true }] });

    // The machines change: the NMR stops, the FTIR starts a run.
    await tcpMeter.set(layoutFromProfile(sdm630, { power_w: 1.5 }));
    await rtuMeter.set(layoutFromProfile(sdm120, { power_w: 1200.5 }));
    await waitFor('ZJ-NMR-0001 off', () => (latestState('ZJ-NMR-0001') === 'off' ? true : undefined));
    await waitFor('ZJ-FTIR-0002 running', () =>
      latestState('ZJ-FTIR-0002') === 'running' ? true : undefined,
    );
    await waitFor('ZJ-FTIR-0002 telemetry with power_w 1200.5', () =>
      watts('ZJ-FTIR-0002').some((v) => Math.abs(v - 1200.5) < 0.01) ? true : undefined,
    );
    // The gateway's two meters were read over one connection and kept their own values.
    expect(latestState('ZJ-XRD-0003')).toBe('idle');
    expect(latestState('ZJ-SEM-0004')).toBe('standby');
  });
});
