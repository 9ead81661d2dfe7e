/**
 * End to end, as the "done when" puts it: an OPC UA server restart is survived with no
 * agent restart. A real agent reads a Machinery server (state from MachineryItemState, power from
 * a vendor node) and publishes to a real Mosquitto; the server is SIGKILLed and started again with
 * other node ids. Checked from the broker's side with mosquitto_sub.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePayload, parseTopic, type TopicKind } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.ts';
import { startAgent } from '../src/runtime.ts';
import { type Mosquitto, sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';
import { type FixtureServer, startFixtureServer } from './helpers/opcua-server.ts';

const USER = { username: 'lab3-pc7', password: 'pw-for-opcua-tests' };
const ID = 'ZJ-LC-0005';
/** An instrument read only through its OPC UA state node: no metrics at all. */
const STATE_ONLY = 'ZJ-NMR-0009';
const PROFILES = fileURLToPath(new URL('../../firmware-configs', import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'dayi-opcua-agent-'));
const cleanups: (() => Promise<void> | void)[] = [];
let broker: Mosquitto;
let server: FixtureServer;

beforeAll(async () => {
  [broker, server] = await Promise.all([
    startMosquitto({ users: [USER] }),
    startFixtureServer({ pki: join(root, 'server-pki') }),
  ]);
  cleanups.push(() => broker.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await server?.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Decoded {
  id: string;
  kind: TopicKind;
  body: Record<string, unknown>;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

it('an agent survives an OPC UA server restart: state, telemetry and the input link come back by themselves', async () => {
  await server.set('itemState', 'Executing');
  await server.set('power', 812.5);
  const config = parseAgentConfig(
    `
agent: { id: lab3-pc7 }
mqtt: { url: "${broker.url}", username: ${USER.username}, password: "\${PW}", reconnect: { min: 200ms, max: 1s } }
outbox: { dir: "${join(root, 'outbox')}", maxBytes: 4MiB, fsync: false }
profilesDir: "${PROFILES}"
instruments:
  - id: ${ID}
    publishEvery: 300ms
    inputs:
      - type: opcua
        endpoint: "${server.endpoint}"
        profile: opcua-machinery
        nodes: [{ browsePath: ActivePower, metric: power_w }]
        certificateDir: "${join(root, 'client-pki')}"
        samplingInterval: 100ms
        publishingInterval: 100ms
        reconnect: { minDelay: 200ms, maxDelay: 1s }
    state: { signal: vendor, minDwell: 100ms }
  - id: ${STATE_ONLY}
    publishEvery: 300ms
    inputs:
      - type: opcua
        endpoint: "${server.endpoint}"
        state:
          browsePath: "machinery:Machines/DemoMachine/machinery:MachineryBuildingBlocks/machinery:MachineryItemState/CurrentState"
          map: { Executing: running, NotExecuting: idle }
        every: 100ms
        certificateDir: "${join(root, 'client-pki')}"
        samplingInterval: 100ms
        publishingInterval: 100ms
        reconnect: { minDelay: 200ms, maxDelay: 1s }
    state: { signal: vendor }
`,
    { env: { PW: USER.password } },
  );
  const sub = startSubscriber({
    port: broker.port,
    topics: [
      `dayi/v1/${ID}/telemetry`,
      `dayi/v1/${ID}/state`,
      `dayi/v1/${ID}/status`,
      `dayi/v1/${STATE_ONLY}/telemetry`,
    ],
    ...USER,
    args: ['-q', '1'],
  });
  cleanups.push(() => sub.stop());
  await sleep(300);
  const agent = await startAgent(config, { log: pino({ level: 'silent' }) });
  cleanups.push(() => agent.stop());

  const all = (): Decoded[] =>
    sub.messages().map((m) => {
      const t = parseTopic(m.topic);
      const d = t && decodePayload(t.kind, m.payload);
      if (!t || !d?.ok) throw new Error(`undecodable ${m.topic}: ${m.payload}`);
      return { id: t.instrumentId, kind: t.kind, body: d.payload as Record<string, unknown> };
    });
  const decoded = () => all().filter((m) => m.id === ID);
  const lastState = () =>
    decoded()
      .filter((m) => m.kind === 'state')
      .at(-1)?.body.state;
  const opcuaLink = () =>
    (
      decoded()
        .filter((m) => m.kind === 'status')
        .at(-1)?.body.inputs as { type: string; connected: boolean }[] | undefined
    )?.find((i) => i.type === 'opcua');
  const sawPower = (w: number, after = 0) =>
    decoded()
      .slice(after)
      .some((m) => m.kind === 'telemetry' && (m.body.metrics as Record<string, number>).power_w === w);

  await waitFor('state running from MachineryItemState Executing', () =>
    lastState() === 'running' ? true : undefined,
  );
  await waitFor('telemetry with power_w 812.5', () => (sawPower(812.5) ? true : undefined));
  await waitFor('status: opcua input connected', () => (opcuaLink()?.connected ? true : undefined));
  // The state holds still on the server, so no data change arrives; the input's held state still
  // goes out, period after period, as telemetry with the state and no metrics.
  const held = await waitFor(`${STATE_ONLY}: 3 telemetry messages with the held state`, () => {
    const t = all().filter((m) => m.id === STATE_ONLY && m.kind === 'telemetry');
    return t.length >= 3 ? t : undefined;
  });
  for (const t of held) {
    expect(t.body.metrics).toEqual({});
    expect(t.body.state).toBe('running');
  }

  const port = server.port;
  await server.kill('SIGKILL');
  await waitFor('status: opcua input disconnected', () =>
    opcuaLink()?.connected === false ? true : undefined,
  );

  server = await startFixtureServer({ pki: join(root, 'server-pki'), port, variant: 2 });
  await server.set('itemState', 'NotExecuting');
  await server.set('power', 95.25);
  const mark = decoded().length;
  await waitFor('status: opcua input connected again', () => (opcuaLink()?.connected ? true : undefined));
  await waitFor('state idle after the restart', () => (lastState() === 'idle' ? true : undefined));
  await waitFor('telemetry with power_w 95.25 after the restart', () =>
    sawPower(95.25, mark) ? true : undefined,
  );
  expect(
    decoded()
      .filter((m) => m.kind === 'status')
      .at(-1)?.body.online,
  ).toBe(true);
});
