import { connect as connectTcp } from 'node:net';
import { parseRefusalNotice, refusalNoticeSchema, refusalTopicFor } from '@dayi/protocols';
import type { MqttClient } from 'mqtt';
import { generate, type Packet, parser } from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_A,
  AGENT_B,
  type Collector,
  connectAgent,
  countRows,
  startCollector,
  T0,
  tempDir,
} from './helpers/mqtt-harness.ts';

/** Raw MQTT over a socket: every packet the broker sends, in the order it arrives. */
async function rawSession(port: number, agent: { username: string; password: string }) {
  const socket = connectTcp(port, '127.0.0.1');
  const p = parser();
  const packets: Packet[] = [];
  const waiters: (() => void)[] = [];
  p.on('packet', (pkt) => {
    packets.push(pkt);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('data', (chunk) => p.parse(chunk));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: got ${JSON.stringify(packets)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };
  socket.write(
    generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: `${agent.username}:raw`,
      clean: true,
      keepalive: 30,
      username: agent.username,
      password: Buffer.from(agent.password),
    }),
  );
  await until('CONNACK', () => packets.some((x) => x.cmd === 'connack'));
  return { socket, packets, until };
}

describe('refusal notices: an agent hears why its publish was refused, before the PUBACK', () => {
  const tmp = tempDir();
  const dbPath = `${tmp.dir}/dayi.sqlite`;
  let c: Collector;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    c = await startCollector(dbPath);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((cl) => cl.endAsync(true)));
  });
  afterAll(async () => {
    await c.stop();
    tmp.remove();
  });

  it('writes the notice on the same connection right before the PUBACK it explains', async () => {
    const s = await rawSession(c.port, AGENT_A);
    try {
      s.socket.write(
        generate({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [{ topic: refusalTopicFor(AGENT_A.username), qos: 0 }],
        }),
      );
      await s.until('SUBACK', () => s.packets.some((x) => x.cmd === 'suback'));
      expect(s.packets.find((x) => x.cmd === 'suback')).toMatchObject({ granted: [0] });
      // XRD-1 belongs to agent B: agent A may not publish for it.
      const payload = JSON.stringify({ ts: T0, seq: 7, metrics: { power_w: 5 } });
      s.socket.write(
        generate({
          cmd: 'publish',
          topic: 'dayi/v1/XRD-1/telemetry',
          payload,
          qos: 1,
          messageId: 42,
          retain: false,
          dup: false,
        }),
      );
      await s.until('PUBACK', () => s.packets.some((x) => x.cmd === 'puback'));
      const after = s.packets.slice(s.packets.findIndex((x) => x.cmd === 'suback') + 1);
      expect(after.map((x) => x.cmd)).toEqual(['publish', 'puback']);
      const [notice, puback] = after as [Packet & { topic: string; payload: Buffer; qos: number }, Packet];
      expect(notice.topic).toBe('$dayi/v1/agents/agent-a/refused');
      expect(notice.qos).toBe(0);
      expect(puback).toMatchObject({ messageId: 42 });
      const body = refusalNoticeSchema.parse(JSON.parse(notice.payload.toString()));
      expect(body).toEqual({
        ts: expect.any(Number),
        topic: 'dayi/v1/XRD-1/telemetry',
        seq: 7,
        messageId: 42,
        class: 'not_authorized',
        reason: 'topic: agent "agent-a" is not registered for instrument XRD-1',
        keep: true,
      });
      expect(parseRefusalNotice(notice.payload)).toEqual(body);
    } finally {
      s.socket.destroy();
    }
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'XRD-1'")).toBe(0);
  });

  it('mqtt.js sees the notice before the publish callback; an invalid payload is not worth keeping', async () => {
    const a = await connectAgent(c, AGENT_A);
    clients.push(a);
    const events: string[] = [];
    a.on('message', (topic, payload) => {
      const n = parseRefusalNotice(payload);
      events.push(`notice ${topic} ${n?.class} seq=${n?.seq} keep=${n?.keep}`);
    });
    await a.subscribeAsync(refusalTopicFor(AGENT_A.username), { qos: 0 });
    await a.publishAsync(
      'dayi/v1/NMR-1/telemetry',
      JSON.stringify({ ts: T0, seq: 3, metrics: { 'Power W': 1 } }),
      {
        qos: 1,
      },
    );
    events.push('puback');
    await a.publishAsync(
      'dayi/v1/NMR-1/telemetry',
      JSON.stringify({ ts: T0, seq: 4, metrics: { power_w: 1 } }),
      {
        qos: 1,
      },
    );
    events.push('puback');
    expect(events).toEqual([
      'notice $dayi/v1/agents/agent-a/refused invalid_payload seq=3 keep=false',
      'puback',
      // an accepted message has no notice
      'puback',
    ]);
  });

  it('sends nothing to a client that did not ask for notices', async () => {
    const a = await connectAgent(c, AGENT_A);
    clients.push(a);
    const seen: string[] = [];
    a.on('message', (topic) => seen.push(topic));
    await a.publishAsync('dayi/v1/XRD-1/telemetry', JSON.stringify({ ts: T0, seq: 8, metrics: {} }), {
      qos: 1,
    });
    await a.publishAsync('dayi/v1/NMR-1/telemetry', JSON.stringify({ ts: T0, seq: 9, metrics: {} }), {
      qos: 1,
    });
    expect(seen).toEqual([]);
  });

  it("no agent may subscribe to another agent's notices", async () => {
    const b = await connectAgent(c, AGENT_B);
    clients.push(b);
    // SUBACK 0x80; mqtt.js turns it into an error carrying the SUBACK
    for (const filter of [refusalTopicFor(AGENT_A.username), '$dayi/v1/agents/+/refused', '$dayi/v1/#']) {
      const err = await b.subscribeAsync(filter, { qos: 0 }).then(
        () => null,
        (e: Error & { packet?: { granted?: number[] } }) => e,
      );
      expect(err?.packet?.granted, filter).toEqual([128]);
    }
    const own = await b.subscribeAsync(refusalTopicFor(AGENT_B.username), { qos: 0 });
    expect(own.map((g) => g.qos)).toEqual([0]);
  });
});
