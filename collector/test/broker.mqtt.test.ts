import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_A,
  AGENT_B,
  type Collector,
  connectAgent,
  countRows,
  inbox,
  mosquitto,
  startCollector,
  statePayload,
  T0,
  tempDir,
} from './helpers/mqtt-harness.ts';

describe('broker: publishes through MQTT land durably in the ledger', () => {
  const tmp = tempDir();
  const dbPath = `${tmp.dir}/dayi.sqlite`;
  let c: Collector;
  const clients: MqttClient[] = [];
  const agent = async (who: typeof AGENT_A, opts = {}) => {
    const client = await connectAgent(c, who, opts);
    clients.push(client);
    return client;
  };

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

  it('PUBACKs only once the message is visible to a second SQLite connection', async () => {
    const a = await agent(AGENT_A);
    for (let seq = 1; seq <= 20; seq++) {
      await a.publishAsync('dayi/v1/NMR-1/state', statePayload(seq, T0 + seq * 1000), {
        qos: 1,
        retain: true,
      });
      expect(
        countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'NMR-1' AND seq = ?", seq),
      ).toBe(1);
    }
    expect(countRows(dbPath, "SELECT COUNT(*) FROM observations WHERE instrument_id = 'NMR-1'")).toBe(20);
    expect(
      countRows(dbPath, "SELECT last_running_at FROM instrument_status WHERE instrument_id = 'NMR-1'"),
    ).toBe(T0 + 20_000);
    const text = await c.ctx.metrics.registry.metrics();
    expect(text).toContain('dayi_mqtt_clients 1');
    expect(text).toMatch(/dayi_mqtt_connects_total\{result="accepted"\} [1-9]/);
  });

  it('stores every message once when each is sent twice, and counts the duplicates', async () => {
    const a = await agent(AGENT_A);
    const tele = (seq: number) =>
      JSON.stringify({ ts: T0 + seq, seq, metrics: { power_w: 500 }, state: 'running' });
    await Promise.all(
      [1, 2, 3, 1, 2, 3].map((seq) => a.publishAsync('dayi/v1/NMR-2/telemetry', tele(seq), { qos: 1 })),
    );
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'NMR-2'")).toBe(3);
    const text = await c.ctx.metrics.registry.metrics();
    expect(text).toContain('dayi_mqtt_messages_total{kind="telemetry",outcome="duplicate"} 3');
  });

  it('refuses a wrong password at CONNECT (mqtt.js)', async () => {
    const err = await connectAgent(c, { username: AGENT_A.username, password: 'wrong-password' }).then(
      () => null,
      (e: Error & { code?: number }) => e,
    );
    expect(err?.code).toBe(4);
    const none = await connectAgent(c, { username: 'nobody', password: AGENT_A.password }).then(
      () => null,
      (e: Error & { code?: number }) => e,
    );
    expect(none?.code).toBe(4);
    const text = await c.ctx.metrics.registry.metrics();
    expect(text).toMatch(/dayi_mqtt_connects_total\{result="bad_credentials"\} [2-9]/);
  });

  it('refuses a wrong password at CONNECT (mosquitto_pub) and accepts the right one', async () => {
    const base = [
      '-h',
      '127.0.0.1',
      '-p',
      String(c.port),
      '-q',
      '1',
      '-t',
      'dayi/v1/NMR-1/state',
      '-V',
      'mqttv311',
    ];
    const bad = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-u', AGENT_A.username, '-P', 'nope-nope', '-m', statePayload(900, T0)],
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bad user name or password/i);
    const anonymous = await mosquitto('mosquitto_pub', [...base, '-m', statePayload(901, T0)]);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/not authori[sz]ed/i);
    expect(countRows(dbPath, 'SELECT COUNT(*) FROM messages WHERE seq IN (900, 901)')).toBe(0);
    const good = await mosquitto('mosquitto_pub', [
      ...base,
      ...['-u', AGENT_A.username, '-P', AGENT_A.password, '-m', statePayload(902, T0)],
    ]);
    expect(good).toMatchObject({ code: 0 });
    expect(countRows(dbPath, 'SELECT COUNT(*) FROM messages WHERE seq = 902')).toBe(1);
  });

  it('acknowledges but drops a publish for an instrument the agent is not registered for', async () => {
    const owner = await agent(AGENT_B);
    await owner.subscribeAsync('dayi/v1/XRD-1/#', { qos: 1 });
    const got = inbox(owner);
    const intruder = await agent(AGENT_A);
    await intruder.publishAsync('dayi/v1/XRD-1/state', statePayload(1, T0, 'off'), { qos: 1, retain: true });
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'XRD-1'")).toBe(0);
    expect(
      countRows(
        dbPath,
        "SELECT COUNT(*) FROM rejected WHERE topic = 'dayi/v1/XRD-1/state' AND username = 'agent-a' AND reason LIKE '%not registered for instrument XRD-1%'",
      ),
    ).toBe(1);
    // the intruder is still connected and its own instruments still work
    await intruder.publishAsync('dayi/v1/NMR-1/state', statePayload(500, T0), { qos: 1 });
    // the subscriber's next message is the owner's own, not the intruder's
    await owner.publishAsync('dayi/v1/XRD-1/state', statePayload(1, T0, 'idle'), { qos: 1, retain: true });
    const first = await got.next("the owner's own state");
    expect(JSON.parse(first.payload).state).toBe('idle');
    // and the retained state is the owner's, too
    const late = await agent(AGENT_B);
    const lateGot = inbox(late);
    await late.subscribeAsync('dayi/v1/XRD-1/state', { qos: 1 });
    const retained = await lateGot.next('the retained state');
    expect(retained.retain).toBe(true);
    expect(JSON.parse(retained.payload).state).toBe('idle');
  });

  it('keeps a client connected through bad payloads, rejecting each with a reason', async () => {
    const a = await agent(AGENT_A);
    const bad: [string, string, RegExp][] = [
      ['dayi/v1/NMR-1/telemetry', 'definitely not json', /not JSON/],
      ['dayi/v1/NMR-1/telemetry', JSON.stringify({ ts: T0, seq: 'one', metrics: {} }), /^seq:/],
      ['dayi/v1/NMR-1/state', JSON.stringify({ ts: T0, seq: 1000, state: 'exploded', since: T0 }), /^state:/],
      ['dayi/v1/NMR-1/telemetry', `{"ts":${T0},"seq":1001,"metrics":{"power_w":1e999}}`, /metrics\.power_w:/],
      [
        'dayi/v1/NMR-1/telemetry',
        JSON.stringify({ ts: T0, seq: 1002, metrics: { p: 'x'.repeat(100_000) } }),
        /too large/,
      ],
      ['dayi/v1/NMR-1/health', JSON.stringify({ ts: T0 }), /^topic:/],
      ['$SYS/broker/uptime', '1', /^topic:/],
    ];
    const before = countRows(dbPath, 'SELECT COUNT(*) FROM messages');
    for (const [topic, payload] of bad) {
      await a.publishAsync(topic, payload, { qos: 1 });
    }
    expect(a.connected).toBe(true);
    expect(countRows(dbPath, 'SELECT COUNT(*) FROM messages')).toBe(before);
    const rows = c.ctx.db
      .prepare('SELECT topic, reason FROM rejected ORDER BY id DESC LIMIT ?')
      .all(bad.length) as {
      topic: string;
      reason: string;
    }[];
    rows.reverse();
    bad.forEach(([topic, , reason], i) => {
      expect(rows[i]!.topic).toBe(topic);
      expect(rows[i]!.reason).toMatch(reason);
    });
    await a.publishAsync('dayi/v1/NMR-1/state', statePayload(1003, T0), { qos: 1 });
    expect(countRows(dbPath, 'SELECT COUNT(*) FROM messages WHERE seq = 1003')).toBe(1);
    const text = await c.ctx.metrics.registry.metrics();
    expect(text).toMatch(/dayi_mqtt_rejected_total\{reason="invalid_payload"\} [4-9]/);
    expect(text).toMatch(/dayi_mqtt_rejected_total\{reason="too_large"\} [1-9]/);
    expect(text).toMatch(/dayi_mqtt_rejected_total\{reason="invalid_topic"\} [2-9]/);
  });

  it('closes a connection whose packet exceeds mqtt.maxPacketBytes, and serves others on', async () => {
    const a = await agent(AGENT_A);
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    a.publish('dayi/v1/NMR-1/telemetry', Buffer.alloc(300 * 1024, 0x20), { qos: 1 });
    await closed;
    const b = await agent(AGENT_B);
    await b.publishAsync('dayi/v1/XRD-1/state', statePayload(2, T0), { qos: 1 });
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'XRD-1' AND seq = 2")).toBe(
      1,
    );
  });

  it('lets an agent subscribe only under its own instruments', async () => {
    const a = await agent(AGENT_A);
    const granted = await a.subscribeAsync(['dayi/v1/NMR-1/#', 'dayi/v1/NMR-2/state', 'dayi/v1/NMR-2/+'], {
      qos: 1,
    });
    expect(granted.map((g) => [g.topic, g.qos])).toEqual([
      ['dayi/v1/NMR-1/#', 1],
      ['dayi/v1/NMR-2/state', 1],
      ['dayi/v1/NMR-2/+', 1],
    ]);
    // SUBACK 0x80 for each of these; mqtt.js turns it into an error carrying the SUBACK
    for (const filter of ['dayi/v1/XRD-1/#', 'dayi/v1/+/state', '#', 'dayi/#', '$dayi/#', '$SYS/#']) {
      const err = await a.subscribeAsync(filter, { qos: 1 }).then(
        () => null,
        (e: Error & { packet?: { granted?: number[] } }) => e,
      );
      expect(err?.packet?.granted, filter).toEqual([128]);
    }
    expect(a.connected).toBe(true);
  });

  it('delivers accepted messages to an authorized subscriber (mosquitto_sub)', async () => {
    const sub = mosquitto('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', String(c.port), '-u', AGENT_B.username, '-P', AGENT_B.password],
      ...['-t', 'dayi/v1/XRD-1/event', '-q', '1', '-C', '1', '-W', '10', '-V', 'mqttv311'],
    ]);
    const b = await agent(AGENT_B);
    const event = JSON.stringify({ ts: T0, seq: 1, type: 'vendor_fault', severity: 'warning' });
    // mosquitto_sub needs a moment to subscribe; publish until it has seen one (seq rises, so no dupes)
    let seq = 1;
    const timer = setInterval(() => {
      seq += 1;
      b.publish(
        'dayi/v1/XRD-1/event',
        JSON.stringify({ ts: T0, seq, type: 'vendor_fault', severity: 'warning' }),
        {
          qos: 1,
        },
      );
    }, 100);
    await b.publishAsync('dayi/v1/XRD-1/event', event, { qos: 1 });
    const out = await sub.finally(() => clearInterval(timer));
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ type: 'vendor_fault', severity: 'warning' });
  });

  it('records the will of an agent that vanished as an offline status', async () => {
    const a = await agent(AGENT_A, {
      clientId: 'agent-a:nmr1-session',
      will: {
        topic: 'dayi/v1/NMR-1/status',
        payload: Buffer.from(
          JSON.stringify({ ts: T0, online: false, agent: { id: 'pc7', version: '1.0.0' } }),
        ),
        qos: 1,
        retain: true,
      },
    });
    await a.publishAsync(
      'dayi/v1/NMR-1/status',
      JSON.stringify({ ts: T0, online: true, agent: { id: 'pc7', version: '1.0.0' } }),
      { qos: 1, retain: true },
    );
    expect(countRows(dbPath, "SELECT online FROM instrument_status WHERE instrument_id = 'NMR-1'")).toBe(1);
    a.stream.destroy(); // no DISCONNECT: the broker publishes the will
    const deadline = Date.now() + 5000;
    while (countRows(dbPath, "SELECT online FROM instrument_status WHERE instrument_id = 'NMR-1'") !== 0) {
      if (Date.now() > deadline) throw new Error('the will did not mark NMR-1 offline within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('drops a stale will that no authenticated agent stands behind (client null)', async () => {
    const packet = {
      cmd: 'publish' as const,
      topic: 'dayi/v1/NMR-1/status',
      payload: Buffer.from(JSON.stringify({ ts: T0, online: false })),
      qos: 1 as const,
      retain: true,
      dup: false,
    };
    const err = await new Promise<Error | null | undefined>((resolve) =>
      c.broker.aedes.authorizePublish(null, packet, resolve),
    );
    expect(err).toBeNull();
    expect(packet).toMatchObject({ topic: '$dayi/dropped', retain: false });
    expect(
      countRows(
        dbPath,
        "SELECT COUNT(*) FROM rejected WHERE topic = 'dayi/v1/NMR-1/status' AND reason LIKE '%no authenticated agent%'",
      ),
    ).toBe(1);
  });
});
