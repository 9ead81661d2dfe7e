/**
 * Issue 9, "hostile borders", through MQTT: each test plays the attacker (or the careless agent) the
 * issue describes against a real collector on loopback, and checks what the other agents and the
 * store see. A second loopback source address (127.0.0.2) plays another host.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { afterAll, describe, expect, it } from 'vitest';
import type { CollectorConfigInput } from '../src/config.ts';
import {
  AGENT_A,
  AGENT_B,
  type Collector,
  captureLog,
  connectAgent,
  rawConnect,
  startCollector,
  statePayload,
  tempDir,
} from './helpers/mqtt-harness.ts';

const tmp = tempDir('dayi-security-');
afterAll(() => tmp.remove());

const HOUR = 3_600_000;
let n = 0;
async function collector(overrides: Partial<CollectorConfigInput> = {}) {
  const cap = captureLog('info');
  const dbPath = `${tmp.dir}/s${++n}.sqlite`;
  const c = await startCollector(dbPath, overrides, cap.log);
  return { c, dbPath, logs: cap.lines };
}

const rows = (c: Collector, sql: string, ...p: (string | number)[]) =>
  c.ctx.db.prepare(sql).all(...p) as Record<string, unknown>[];
const one = (c: Collector, sql: string, ...p: (string | number)[]) =>
  c.ctx.db.prepare(sql).get(...p) as Record<string, unknown>;
const metrics = (c: Collector) => c.ctx.metrics.registry.metrics();

function connectPacket(
  agent: { username: string; password: string },
  clientId: string,
  clean = true,
): Omit<IConnectPacket, 'cmd'> {
  return {
    protocolId: 'MQTT',
    protocolVersion: 4,
    keepalive: 30,
    clean,
    clientId,
    username: agent.username,
    password: Buffer.from(agent.password),
  };
}

async function connack(
  port: number,
  packet: Omit<IConnectPacket, 'cmd'>,
  localAddress?: string,
): Promise<IConnackPacket> {
  const { answer } = await rawConnect(port, packet, undefined, localAddress);
  if (answer === 'closed' || answer.cmd !== 'connack')
    throw new Error(`no CONNACK: ${JSON.stringify(answer)}`);
  return answer as IConnackPacket;
}

/** An mqtt.js client whose messages are collected from the very first packet (queued ones too). */
function client(port: number, opts: mqtt.IClientOptions): Promise<{ c: MqttClient; got: string[] }> {
  const got: string[] = [];
  const c = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0, ...opts });
  c.on('message', (_t, payload) => got.push(payload.toString()));
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve({ c, got }));
    c.once('error', reject);
  });
}

async function until<T>(what: string, read: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('session takeover: a client id belongs to one agent', () => {
  it('refuses another agent under any client id with return code 2, and logs it', async () => {
    const { c, logs } = await collector();
    try {
      // A keeps a persistent session with a subscription, goes offline, and a state is queued for it
      const a1 = await connectAgent(c, AGENT_A, { clientId: 'agent-a:nmr', clean: false });
      await a1.subscribeAsync('dayi/v1/NMR-1/state', { qos: 1 });
      await a1.endAsync();
      const pub = await connectAgent(c, AGENT_A);
      await pub.publishAsync('dayi/v1/NMR-1/state', statePayload(1, Date.now() - HOUR), { qos: 1 });
      await pub.endAsync();

      // B, authenticated, with A's client id and clean session 0: refused, no session present
      const stolen = await connack(c.port, connectPacket(AGENT_B, 'agent-a:nmr', false));
      expect(stolen).toMatchObject({ returnCode: 2, sessionPresent: false });
      for (const id of ['agent-a', 'agent-a/x', 'agent-b-x', 'x', 'agent-bagent-a:nmr', 'aedes_1']) {
        expect((await connack(c.port, connectPacket(AGENT_B, id))).returnCode, id).toBe(2);
      }
      // B's own ids are fine; an empty id with clean session is put under B
      expect((await connack(c.port, connectPacket(AGENT_B, 'agent-b'))).returnCode).toBe(0);
      expect((await connack(c.port, connectPacket(AGENT_B, 'agent-b/2'))).returnCode).toBe(0);
      expect((await connack(c.port, connectPacket(AGENT_B, ''))).returnCode).toBe(0);

      // A resumes its own session and gets the queued state: nobody else read it
      const a2 = await client(c.port, {
        clientId: 'agent-a:nmr',
        clean: false,
        username: AGENT_A.username,
        password: AGENT_A.password,
      });
      await until(
        'the queued state',
        () => a2.got.length,
        (k) => k === 1,
      );
      // live: B with A's live id neither connects nor disconnects A
      expect((await connack(c.port, connectPacket(AGENT_B, 'agent-a:nmr'))).returnCode).toBe(2);
      expect(a2.c.connected).toBe(true);
      await a2.c.publishAsync('dayi/v1/NMR-1/state', statePayload(2, Date.now() - HOUR / 2), { qos: 1 });
      await a2.c.endAsync();

      // the ledger keeps the authenticated username beside the client id the client chose
      expect(rows(c, 'SELECT seq, username, client_id FROM messages ORDER BY seq')).toEqual([
        { seq: 1, username: 'agent-a', client_id: expect.stringMatching(/^agent-a:/) },
        { seq: 2, username: 'agent-a', client_id: 'agent-a:nmr' },
      ]);
      expect(await metrics(c)).toContain('dayi_mqtt_connects_total{result="identifier_rejected"} 8');
      const refused = logs().filter((l) => String(l.msg).startsWith('MQTT CONNECT refused: identifier'));
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]).toMatchObject({ username: 'agent-b', clientId: 'agent-a:nmr', returnCode: 2 });
    } finally {
      await c.stop();
    }
  });
});

describe('seq restart: a lost outbox loses no data', () => {
  const tele = (seq: number, ts: number, w: number, epoch?: string) =>
    JSON.stringify({ ts, seq, metrics: { power_w: w }, ...(epoch ? { epoch } : {}) });

  it('keeps reused seqs with other content, drops only the same message, and records the restart', async () => {
    const { c, dbPath, logs } = await collector();
    const t0 = Date.now() - 6 * HOUR;
    const topic = 'dayi/v1/NMR-1/telemetry';
    let restarted: Collector | null = null;
    try {
      const a = await connectAgent(c, AGENT_A);
      for (let s = 1; s <= 5; s++) await a.publishAsync(topic, tele(s, t0 + s * 10_000, 500), { qos: 1 });
      // the agent PC is reinstalled: its outbox is gone and seq starts again
      const t1 = t0 + HOUR;
      for (let s = 1; s <= 5; s++) await a.publishAsync(topic, tele(s, t1 + s * 10_000, 20), { qos: 1 });
      // a replay of one of them is the same message: a duplicate
      await a.publishAsync(topic, tele(3, t1 + 30_000, 20), { qos: 1 });
      expect(one(c, 'SELECT COUNT(*) AS n FROM messages')).toEqual({ n: 10 });
      expect(rows(c, 'SELECT seq, ts FROM messages WHERE seq = 3 ORDER BY ts')).toEqual([
        { seq: 3, ts: t0 + 30_000 },
        { seq: 3, ts: t1 + 30_000 },
      ]);
      // visible: one fact for the analytics (data_gap from gap_from to ts), a metric, a log line
      expect(
        rows(
          c,
          'SELECT instrument_id, kind, seq, ts, gap_from, previous_ts, cause, username FROM seq_restarts',
        ),
      ).toEqual([
        {
          instrument_id: 'NMR-1',
          kind: 'telemetry',
          seq: 1,
          ts: t1 + 10_000,
          gap_from: t0 + 50_000,
          previous_ts: t0 + 10_000,
          cause: 'seq_reused',
          username: 'agent-a',
        },
      ]);
      const text = await metrics(c);
      expect(text).toContain('dayi_seq_restarts_total{kind="telemetry",cause="seq_reused"} 1');
      expect(text).toContain('dayi_mqtt_messages_total{kind="telemetry",outcome="duplicate"} 1');
      expect(logs().some((l) => String(l.msg).startsWith('agent seq started again'))).toBe(true);

      // an agent that sends its outbox epoch: a new epoch is the restart, seen at its first message
      const e = 'dayi/v1/NMR-2/telemetry';
      for (let s = 1; s <= 3; s++) await a.publishAsync(e, tele(s, t0 + s * 1000, 1, 'box1'), { qos: 1 });
      await a.publishAsync(e, tele(1, t1, 1, 'box2'), { qos: 1 });
      expect(
        rows(c, "SELECT seq, epoch, previous_epoch, cause FROM seq_restarts WHERE instrument_id = 'NMR-2'"),
      ).toEqual([{ seq: 1, epoch: 'box2', previous_epoch: 'box1', cause: 'epoch_changed' }]);
      await a.endAsync();
      await c.stop();

      // after a collector restart the runs go on: no second fact for either
      restarted = await startCollector(dbPath);
      const b = await connectAgent(restarted, AGENT_A);
      await b.publishAsync(topic, tele(6, t1 + 60_000, 20), { qos: 1 });
      await b.publishAsync(e, tele(2, t1 + 1000, 1, 'box2'), { qos: 1 });
      await b.publishAsync(e, tele(3, t1 + 2000, 1, 'box2'), { qos: 1 });
      await b.endAsync();
      expect(one(restarted, 'SELECT COUNT(*) AS n FROM messages')).toEqual({ n: 17 });
      expect(one(restarted, 'SELECT COUNT(*) AS n FROM seq_restarts')).toEqual({ n: 2 });
    } finally {
      await c.stop().catch(() => {});
      await restarted?.stop();
    }
  });
});

describe('far-future timestamps', () => {
  it('refuses ts beyond mqtt.maxClockSkew and a state whose since is after its ts, into rejected', async () => {
    const { c } = await collector();
    try {
      const a = await connectAgent(c, AGENT_A);
      const now = Date.now();
      const bad = JSON.stringify({ ts: Date.UTC(2199, 0, 1), seq: 1, metrics: { power_w: 1 } });
      await a.publishAsync('dayi/v1/NMR-1/telemetry', bad, { qos: 1 });
      await a.publishAsync('dayi/v1/NMR-1/state', statePayload(1, now + 3 * HOUR), { qos: 1 });
      const since = JSON.stringify({ ts: now - HOUR, seq: 2, state: 'running', since: now - HOUR / 2 });
      await a.publishAsync('dayi/v1/NMR-1/state', since, { qos: 1 });
      // a clock a minute fast is within the default 10 min
      await a.publishAsync('dayi/v1/NMR-1/state', statePayload(3, now + 60_000), { qos: 1 });
      await a.endAsync();
      expect(rows(c, 'SELECT seq FROM messages')).toEqual([{ seq: 3 }]);
      const reasons = rows(c, 'SELECT reason FROM rejected ORDER BY id').map((r) => r.reason);
      expect(reasons).toEqual([
        expect.stringMatching(/^ts: 2199-01-01T00:00:00.000Z is \d+ d ahead of the collector clock/),
        expect.stringMatching(/^ts: .* is 3 h ahead of the collector clock \(mqtt.maxClockSkew 10 min\)/),
        'since: must not be after ts',
      ]);
      expect(one(c, 'SELECT last_seen FROM instrument_status')).toEqual({ last_seen: now + 60_000 });
      expect(await metrics(c)).toContain('dayi_mqtt_rejected_total{reason="future_ts"} 2');
    } finally {
      await c.stop();
    }
  });
});

describe('CONNECT throttling', () => {
  it('backs off a flood of bad CONNECTs with summarized logs while other agents connect and publish', async () => {
    const { c, logs } = await collector({
      mqtt: {
        host: '127.0.0.1',
        port: 0,
        // a backoff that outlasts a wave of the flood even on a slow machine
        connectThrottle: { freeFailures: 3, backoff: '100ms', maxBackoff: '5s' },
      },
    });
    try {
      // one host (127.0.0.2) guesses agent-b's password as fast as it can, 16 connections at a time
      const codes = new Map<number | string, number>();
      let flooding = true;
      const flood = (async () => {
        let sent = 0;
        while (flooding && sent < 3000) {
          const wave = await Promise.all(
            Array.from({ length: 16 }, (_, i) =>
              rawConnect(
                c.port,
                connectPacket({ username: 'agent-b', password: `guess-${sent + i}` }, `agent-b:${i}`),
                undefined,
                '127.0.0.2',
              ).then((r) =>
                r.answer === 'closed' ? 'closed' : ((r.answer as IConnackPacket).returnCode ?? 'none'),
              ),
            ),
          );
          sent += wave.length;
          for (const code of wave) codes.set(code, (codes.get(code) ?? 0) + 1);
        }
        return sent;
      })();
      // meanwhile agent A, from another address, connects and publishes as usual
      await until(
        'the flood to be throttled',
        () => codes.get(3) ?? 0,
        (k) => k > 200,
      );
      const a = await connectAgent(c, AGENT_A);
      await a.publishAsync('dayi/v1/NMR-1/state', statePayload(1, Date.now() - HOUR), { qos: 1 });
      await a.endAsync();
      flooding = false;
      const sent = await flood;
      expect(one(c, 'SELECT username FROM messages')).toEqual({ username: 'agent-a' });
      // the flood got refusals, mostly without a password check (return code 3)
      expect(codes.get(4)).toBeGreaterThanOrEqual(3);
      expect(codes.get(3)).toBeGreaterThan(sent / 2);
      // the real agent-b, on its own address, still gets in (its CONNACK may be held for the backoff)
      const b = await connectAgent(c, AGENT_B, { connectTimeout: 30_000 });
      await b.endAsync();
      const text = await metrics(c);
      expect(text).toMatch(/dayi_mqtt_connects_total\{result="throttled"\} [1-9]/);
      // the log grows by the first lines of the minute, not one line per attempt
      const lines = logs().filter((l) => String(l.msg).startsWith('MQTT CONNECT refused'));
      expect(sent).toBeGreaterThan(100);
      expect(lines.length).toBeLessThanOrEqual(10);
    } finally {
      await c.stop();
    }
    // the rest is summed up (at the end of the minute, or here when the broker closes)
    const summary = logs().find((l) => String(l.msg).startsWith('MQTT CONNECTs refused in the last minute'));
    expect(summary).toMatchObject({ topAddresses: { '127.0.0.2': expect.any(Number) } });
    expect(summary?.total).toBeGreaterThan(100);
  });
});

describe('rejected publishes cannot fill the disk', () => {
  it('keeps bounded excerpts, counts repeats, caps the table, and disconnects a flooding agent', async () => {
    const { c, logs } = await collector({
      mqtt: {
        host: '127.0.0.1',
        port: 0,
        rejects: { perMinute: 50, disconnectAfter: 300, banFor: '1m' },
      },
      store: { sqlite: `${tmp.dir}/unused.sqlite`, rejected: { maxBytes: '24KiB' } },
    });
    try {
      // agent B repeats one bad publish: one row, counted
      const b = await connectAgent(c, AGENT_B);
      for (let i = 0; i < 10; i++) await b.publishAsync('dayi/v1/XRD-1/state', '{"bad":1}', { qos: 1 });
      expect(rows(c, 'SELECT count, payload_bytes FROM rejected')).toEqual([{ count: 10, payload_bytes: 9 }]);

      // agent A sends big, all different, refused publishes as fast as it can (QoS 0: no PUBACK to wait for)
      const a = await connectAgent(c, AGENT_A);
      let closed = false;
      a.on('close', () => {
        closed = true;
      });
      const junk = 'x'.repeat(60 * 1024);
      let sent = 0;
      while (!closed && sent < 20_000) {
        a.publish('dayi/v1/NMR-1/telemetry', `${sent}${junk}`, { qos: 0 });
        sent++;
        // as fast as the socket drains: never more than a few MiB buffered here
        const stream = (a as unknown as { stream?: NodeJS.WritableStream & { writableLength: number } })
          .stream;
        if (stream && stream.writableLength > 4 * 2 ** 20) {
          await new Promise<void>((resolve) => {
            stream.once('drain', () => resolve());
            a.once('close', () => resolve());
          });
        } else if (sent % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await until(
        'the flooding agent to be disconnected',
        () => closed,
        (v) => v,
      );
      a.end(true);
      // meanwhile B's good messages go on being accepted
      await b.publishAsync('dayi/v1/XRD-1/state', statePayload(1, Date.now() - HOUR), { qos: 1 });
      await b.endAsync();
      expect(rows(c, 'SELECT username FROM messages')).toEqual([{ username: 'agent-b' }]);

      const kept = one(
        c,
        'SELECT COUNT(*) AS n, SUM(row_bytes) AS bytes, MAX(length(payload)) AS p FROM rejected',
      );
      expect(kept.bytes).toBeLessThanOrEqual(24 * 1024);
      expect(kept.p).toBeLessThanOrEqual(256);
      const text = await metrics(c);
      expect(text).toMatch(/dayi_mqtt_rejected_unstored_total [1-9]/);
      expect(text).toContain('dayi_mqtt_reject_disconnects_total 1');
      // and it is kept out for a while
      expect((await connack(c.port, connectPacket(AGENT_A, 'agent-a:again'))).returnCode).toBe(3);
      // the log has the agent's first refusals of the minute, not one line per publish
      const lines = logs().filter((l) => String(l.msg).startsWith('message rejected'));
      // (50 of A's burst, a few more as its bucket refills, B's 10)
      expect(lines.length).toBeLessThanOrEqual(50 + 10 + 10);
      expect(logs().some((l) => String(l.msg).startsWith('MQTT client disconnected: it keeps'))).toBe(true);
    } finally {
      await c.stop();
    }
  });
});
