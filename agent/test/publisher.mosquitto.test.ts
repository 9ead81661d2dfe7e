/**
 * The agent against a real, independent broker (Mosquitto on loopback), checked from the broker's
 * side with mosquitto_sub: topics, payloads, retain, the will, a broker outage, a full outbox.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, parseTopic, type TopicKind } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentConfig, parseAgentConfig } from '../src/config.ts';
import { type RunningAgent, startAgent } from '../src/runtime.ts';
import {
  type Mosquitto,
  mosquittoSub,
  type SubMessage,
  sleep,
  startMosquitto,
  startSubscriber,
} from './helpers/mosquitto.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-publisher-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const USER = { username: 'lab3-pc7', password: 'pw-for-tests' };
const silent = pino({ level: 'silent' });

function agentYaml(opts: {
  url: string;
  id: string;
  outbox: string;
  publishEvery?: string;
  maxBytes?: string;
  password?: string;
  steps?: string;
}): string {
  return `
agent: { id: lab3-pc7 }
mqtt: { url: "${opts.url}", username: ${USER.username}, password: "${opts.password ?? USER.password}",
        reconnect: { min: 200ms, max: 1s } }
outbox: { dir: "${opts.outbox}", maxBytes: ${opts.maxBytes ?? '1MiB'}, fsync: false }
instruments:
  - id: ${opts.id}
    publishEvery: ${opts.publishEvery ?? '500ms'}
    inputs:
      - { type: simulated, name: plug, pattern: steps, every: 100ms, noise: 0.01,
          steps: ${opts.steps ?? '[ { watts: 900, for: 2s }, { watts: 2, for: 2s } ]'} }
    state: { signal: power_w, window: 300ms, thresholds: { standby: 5, idle: 80, running: 400 }, minDwell: 300ms }
`;
}

function config(opts: Parameters<typeof agentYaml>[0]): AgentConfig {
  return parseAgentConfig(agentYaml(opts), { env: {} });
}

async function run(cfg: AgentConfig): Promise<RunningAgent> {
  const agent = await startAgent(cfg, { log: silent });
  cleanups.push(() => agent.stop());
  return agent;
}

async function broker(opts: Parameters<typeof startMosquitto>[0] = {}): Promise<Mosquitto> {
  const m = await startMosquitto({ users: [USER], ...opts });
  cleanups.push(() => m.close());
  return m;
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Decodes every message with the protocol's schemas; fails the test on any invalid one. */
function decodeAll(msgs: SubMessage[]) {
  return msgs.map((m) => {
    const t = parseTopic(m.topic);
    expect(t, `topic ${m.topic}`).not.toBeNull();
    const kind = t!.kind as TopicKind;
    const d = decodePayload(kind, m.payload);
    if (!d.ok) throw new Error(`${m.topic}: ${d.reason}: ${m.payload}`);
    return { ...m, kind, instrumentId: t!.instrumentId, body: d.payload as Record<string, unknown> };
  });
}

const seqsOf = (msgs: ReturnType<typeof decodeAll>, kind: TopicKind) => [
  ...new Set(msgs.filter((m) => m.kind === kind).map((m) => m.body.seq as number)),
];

function expectContiguous(seqs: number[], what: string) {
  const sorted = [...seqs].sort((a, b) => a - b);
  const missing: number[] = [];
  for (let s = sorted[0]!; s <= sorted.at(-1)!; s++) if (!sorted.includes(s)) missing.push(s);
  expect(missing, `${what}: missing seq`).toEqual([]);
}

describe('agent publishing to Mosquitto', () => {
  it('publishes SPEC topics and payloads; state and status are retained; a stop leaves online:false', async () => {
    const m = await broker();
    const id = 'ZJ-NMR-0001';
    const sub = startSubscriber({ port: m.port, topics: [`dayi/v1/${id}/#`], ...USER, args: ['-q', '1'] });
    cleanups.push(() => sub.stop());
    await sleep(300);
    const agent = await run(config({ url: m.url, id, outbox: join(root, 'spec') }));
    const msgs = await waitFor('two state changes and telemetry', () => {
      const d = decodeAll(sub.messages());
      return d.filter((x) => x.kind === 'state').length >= 3 &&
        d.filter((x) => x.kind === 'telemetry').length >= 6
        ? d
        : undefined;
    });
    const kinds = new Set(msgs.map((x) => x.kind));
    expect([...kinds].sort()).toEqual(['state', 'status', 'telemetry']);
    const status = msgs.find((x) => x.kind === 'status')!;
    expect(status.body).toMatchObject({
      online: true,
      agent: { id: 'lab3-pc7', version: expect.any(String) },
      inputs: [{ name: 'plug', type: 'simulated', connected: true }],
    });
    const states = msgs.filter((x) => x.kind === 'state').map((x) => x.body);
    expect(states.map((s) => s.state).slice(0, 3)).toEqual(['running', 'off', 'running']);
    for (const s of states) {
      expect(s.source).toBe('power_w');
      expect(s.since as number).toBeLessThanOrEqual(s.ts as number);
    }
    const telemetry = msgs.filter((x) => x.kind === 'telemetry').map((x) => x.body);
    for (const t of telemetry)
      expect(Object.keys(t.metrics as object).sort()).toEqual(['current_a', 'power_w', 'voltage_v']);
    expect(telemetry.some((t) => t.state === 'running')).toBe(true);
    // seq rises by one per instrument and topic.
    expect(seqsOf(msgs, 'state').slice(0, 3)).toEqual([1, 2, 3]);
    expectContiguous(seqsOf(msgs, 'telemetry'), 'telemetry');

    // A late subscriber gets the retained state and status at once.
    const retained = decodeAll(
      await mosquittoSub({
        port: m.port,
        topics: [`dayi/v1/${id}/state`, `dayi/v1/${id}/status`],
        count: 2,
        ...USER,
      }),
    );
    expect(retained.map((r) => [r.kind, r.retained]).sort()).toEqual([
      ['state', true],
      ['status', true],
    ]);

    await agent.stop();
    const [after] = decodeAll(
      await mosquittoSub({ port: m.port, topics: [`dayi/v1/${id}/status`], count: 1, ...USER }),
    );
    expect(after).toMatchObject({ retained: true, body: { online: false, agent: { id: 'lab3-pc7' } } });
    // Telemetry is not retained.
    expect(
      await mosquittoSub({ port: m.port, topics: [`dayi/v1/${id}/telemetry`], timeoutSeconds: 1, ...USER }),
    ).toEqual([]);
  });

  it('republishes status when an input link changes', async () => {
    const m = await broker();
    const id = 'LINK-1';
    const sub = startSubscriber({
      port: m.port,
      topics: [`dayi/v1/${id}/status`],
      ...USER,
      args: ['-q', '1'],
    });
    cleanups.push(() => sub.stop());
    await sleep(300);
    await run(
      config({
        url: m.url,
        id,
        outbox: join(root, 'link'),
        steps: '[ { watts: 900, for: 1s }, { watts: 0, for: 1s, link: false } ]',
      }),
    );
    const statuses = await waitFor('status with the link down, then up again', () => {
      const inputs = decodeAll(sub.messages()).map((s) => (s.body.inputs as { connected: boolean }[])[0]!);
      const down = inputs.findIndex((i) => !i.connected);
      return down >= 0 && inputs.slice(down).some((i) => i.connected) ? inputs : undefined;
    });
    const down = statuses.find((i) => !i.connected)!;
    expect(down).toMatchObject({ connected: false, lastError: 'simulated device not answering' });
    expect(typeof (down as { lastErrorAt?: number }).lastErrorAt).toBe('number');
  });

  it('a wrong password is refused by the broker; messages wait in the outbox', async () => {
    const m = await broker();
    const agent = await run(config({ url: m.url, id: 'PW-1', outbox: join(root, 'pw'), password: 'wrong' }));
    await sleep(1500);
    expect(
      await mosquittoSub({ port: m.port, topics: ['dayi/v1/PW-1/#'], timeoutSeconds: 1, ...USER }),
    ).toEqual([]);
    expect(agent.instruments[0]!.outbox.stats().pending).toBeGreaterThan(0);
  });

  it('kill -9 of the agent process leaves status online:false retained (the will)', async () => {
    const m = await broker();
    const id = 'WILL-1';
    const file = join(root, 'will.yaml');
    writeFileSync(file, agentYaml({ url: m.url, id, outbox: join(root, 'will') }));
    const child: ChildProcess = spawn(
      process.execPath,
      [join(import.meta.dirname, 'helpers/publisher-agent-child.ts'), file],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const status = async () =>
      decodeAll(await mosquittoSub({ port: m.port, topics: [`dayi/v1/${id}/status`], count: 1, ...USER }))[0];
    await waitFor(`the child's status online:true (child stderr: ${stderr})`, async () =>
      (await status())?.body.online === true ? true : undefined,
    );
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const will = await waitFor('the will: status online:false', async () => {
      const s = await status();
      return s?.body.online === false ? s : undefined;
    });
    expect(will).toMatchObject({ retained: true, body: { online: false, agent: { id: 'lab3-pc7' } } });
  });

  it('a 10 s broker outage at 1 Hz leaves no gap in the telemetry seq a persistent subscriber sees', async () => {
    const m = await broker({ persistence: true });
    const id = 'OUTAGE-1';
    // A persistent session (clean session off, QoS 1): what the broker queues for it survives the restart.
    const sub = startSubscriber({
      port: m.port,
      topics: [`dayi/v1/${id}/telemetry`],
      ...USER,
      args: ['-q', '1', '-c', '-i', 'dayi-test-outage-sub'],
    });
    cleanups.push(() => sub.stop());
    await sleep(300);
    const agent = await run(
      config({
        url: m.url,
        id,
        outbox: join(root, 'outage'),
        publishEvery: '1s',
        steps: '[ { watts: 900, for: 1h } ]',
      }),
    );
    await waitFor('3 telemetry messages before the outage', () =>
      sub.messages().length >= 3 ? true : undefined,
    );
    await m.stop();
    const down = Date.now();
    await sleep(10_000);
    await m.start();
    const up = Date.now();
    const msgs = await waitFor(
      'telemetry from after the outage',
      () => {
        const d = decodeAll(sub.messages());
        return d.filter((x) => (x.body.ts as number) > up + 3000).length >= 2 ? d : undefined;
      },
      40_000,
    );
    await agent.stop();
    const seqs = seqsOf(msgs, 'telemetry');
    expectContiguous(seqs, 'telemetry after a broker outage');
    // A real check: the messages made while the broker was down did arrive.
    const duringOutage = msgs.filter(
      (x) => (x.body.ts as number) > down + 500 && (x.body.ts as number) < up - 500,
    );
    expect(new Set(duringOutage.map((x) => x.body.seq)).size).toBeGreaterThanOrEqual(8);
  }, 90_000);

  it('kill -9 of the agent during a broker outage loses nothing: the restarted agent sends the backlog', async () => {
    const m = await broker({ persistence: true });
    const id = 'CRASH-1';
    const sub = startSubscriber({
      port: m.port,
      topics: [`dayi/v1/${id}/telemetry`, `dayi/v1/${id}/state`],
      ...USER,
      args: ['-q', '1', '-c', '-i', 'dayi-test-crash-sub'],
    });
    cleanups.push(() => sub.stop());
    await sleep(300);
    const file = join(root, 'crash.yaml');
    writeFileSync(file, agentYaml({ url: m.url, id, outbox: join(root, 'crash'), publishEvery: '300ms' }));
    const startChild = () => {
      const child = spawn(
        process.execPath,
        [join(import.meta.dirname, 'helpers/publisher-agent-child.ts'), file],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      cleanups.push(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      return child;
    };
    const first = startChild();
    await waitFor('3 telemetry messages from the first agent process', () =>
      sub.messages().filter((x) => x.topic.endsWith('/telemetry')).length >= 3 ? true : undefined,
    );
    await m.stop();
    const down = Date.now();
    await sleep(3000);
    const exited = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await exited;
    const killed = Date.now();
    const second = startChild();
    await sleep(1000);
    await m.start();
    const restarted = Date.now();
    const msgs = await waitFor(
      'telemetry from the second agent process',
      () => {
        const d = decodeAll(sub.messages());
        return d.filter((x) => x.kind === 'telemetry' && (x.body.ts as number) > restarted + 1000).length >= 2
          ? d
          : undefined;
      },
      30_000,
    );
    second.kill('SIGTERM');
    expectContiguous(seqsOf(msgs, 'telemetry'), 'telemetry across kill -9 and restart');
    expectContiguous(seqsOf(msgs, 'state'), 'state across kill -9 and restart');
    const ofFirstDuringOutage = msgs.filter(
      (x) => x.kind === 'telemetry' && (x.body.ts as number) > down + 300 && (x.body.ts as number) < killed,
    );
    expect(ofFirstDuringOutage.length).toBeGreaterThanOrEqual(5);
  }, 90_000);

  it('a full outbox drops the oldest telemetry, keeps every state change, and reports a data_gap', async () => {
    const m = await broker({ persistence: true });
    const id = 'FULL-1';
    const sub = startSubscriber({
      port: m.port,
      topics: [`dayi/v1/${id}/#`],
      ...USER,
      args: ['-q', '1', '-c', '-i', 'dayi-test-full-sub'],
    });
    cleanups.push(() => sub.stop());
    await sleep(500);
    await m.stop(); // the subscriber's session is kept; the agent starts with no broker
    const agent = await run(
      config({
        url: m.url,
        id,
        outbox: join(root, 'full'),
        publishEvery: '100ms',
        maxBytes: '4KiB',
        steps: '[ { watts: 900, for: 700ms }, { watts: 2, for: 700ms } ]',
      }),
    );
    const box = agent.instruments[0]!.outbox;
    await waitFor('telemetry dropped from the full outbox', () =>
      box.stats().dropped >= 20 ? true : undefined,
    );
    await m.start();
    const msgs = await waitFor(
      'the data_gap event',
      () => {
        const d = decodeAll(sub.messages());
        return d.some((x) => x.kind === 'event') ? d : undefined;
      },
      30_000,
    );
    await agent.stop();
    const states = seqsOf(msgs, 'state');
    expect(states.length).toBeGreaterThanOrEqual(4);
    expect(states[0]).toBe(1);
    expectContiguous(states, 'state changes');
    // In order: FIFO even after drops.
    const stateOrder = msgs.filter((x) => x.kind === 'state').map((x) => x.body.seq as number);
    expect([...new Set(stateOrder)]).toEqual([...new Set(stateOrder)].sort((a, b) => a - b));
    const gaps = msgs.filter((x) => x.kind === 'event').map((x) => x.body);
    expect(gaps[0]).toMatchObject({ type: 'data_gap', severity: 'warning', seq: 1 });
    const dropped = gaps.reduce(
      (n, g) => n + ((g.detail as { dropped: { telemetry: number } }).dropped.telemetry ?? 0),
      0,
    );
    const tel = seqsOf(msgs, 'telemetry').sort((a, b) => a - b);
    const lastBeforeGap = Math.max(...tel.filter((s) => s < tel.at(-1)!));
    expect(dropped).toBeGreaterThanOrEqual(20);
    // Every telemetry seq up to the newest is either received or counted as dropped.
    expect(tel.length + dropped).toBe(tel.at(-1)!);
    expect(lastBeforeGap).toBeGreaterThan(0);
    const detail = gaps[0]!.detail as { from: number; to: number };
    expect(detail.from).toBeLessThanOrEqual(detail.to);
  }, 90_000);
});
