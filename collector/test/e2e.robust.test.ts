import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  getJson,
  OTHER_AGENT,
  type RunningCollector,
  startInProcess,
  tempDir,
  waitFor,
} from './helpers/e2e-collector.ts';
import { at, connect, daysAgo, mosquittoPub, publishAll, telemetryEveryMinute } from './helpers/e2e-mqtt.ts';

/** Publishes that must change nothing: another agent's ids, wrong passwords, bad payloads. */

const MINE = 'LAB-NMR-0001';
const THEIRS = 'OTHER-0001'; // registered to OTHER_AGENT only

interface Instrument {
  id: string;
  lastSeen: string | null;
  lastPoweredAt: string | null;
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('what the collector refuses', () => {
  const tmp = tempDir();
  let collector: RunningCollector;
  const day = daysAgo(5);
  const metrics = async () => (await fetch(`${collector.baseUrl}/metrics`)).text();

  beforeAll(async () => {
    collector = await startInProcess(
      e2eConfig(tmp.dir, [MINE], { instruments: [{ id: MINE }, { id: THEIRS, org: 'Other University' }] }),
    );
  });
  afterAll(async () => {
    await collector?.close();
    tmp.remove();
  });

  it('a publish under an id the agent is not registered for changes nothing', async () => {
    const before = await getJson<Instrument>(collector.baseUrl, `/v1/instruments/${THEIRS}`);
    const usageBefore = await getJson(
      collector.baseUrl,
      `/v1/instruments/${THEIRS}/usage?from=${day}&to=${day}`,
    );
    const forged = telemetryEveryMinute(THEIRS, at(day, '09:00'), at(day, '10:00'), () => 'running');
    // mosquitto_pub as AGENT, whose registration does not name THEIRS. MQTT 3.1.1 has no negative
    // PUBACK: the collector acknowledges and drops (docs/architecture.md), so the agent moves on.
    const pub = await mosquittoPub(
      collector.mqttPort,
      AGENT,
      `dayi/v1/${THEIRS}/telemetry`,
      forged.map((m) => m.payload),
    );
    expect(pub.code, pub.stderr).toBe(0);
    const client = await connect(collector.mqttPort, AGENT);
    await client.publishAsync(forged[0]!.topic, forged[0]!.payload, { qos: 1 });
    await client.endAsync();
    await waitFor(
      'the unauthorized publishes to be counted in /metrics',
      metrics,
      (m) => metric(m, 'dayi_mqtt_rejected_total', 'reason="not_authorized"') === forged.length + 1,
    );
    expect(await getJson<Instrument>(collector.baseUrl, `/v1/instruments/${THEIRS}`)).toEqual(before);
    expect(await getJson(collector.baseUrl, `/v1/instruments/${THEIRS}/usage?from=${day}&to=${day}`)).toEqual(
      usageBefore,
    );
    expect(before.lastSeen).toBeNull();
  });

  it('refuses a wrong password at CONNECT (mqtt.js and mosquitto_pub)', async () => {
    const err = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${collector.mqttPort}`, {
        username: AGENT.username,
        password: 'not-the-password',
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      })
      .then(
        (c) => {
          c.end(true);
          return null;
        },
        (e: Error & { code?: number }) => e,
      );
    expect(err, 'a wrong password must not connect').not.toBeNull();
    expect([4, 5]).toContain(err?.code); // CONNACK 4 bad user name or password, 5 not authorized
    const pub = await mosquittoPub(
      collector.mqttPort,
      { ...OTHER_AGENT, password: 'wrong-password' },
      `dayi/v1/${THEIRS}/telemetry`,
      ['{"ts":1764380000000,"seq":1,"metrics":{"power_w":500},"state":"running"}'],
    );
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/Connection Refused|not authori[sz]ed|bad user name/i);
    expect((await getJson<Instrument>(collector.baseUrl, `/v1/instruments/${THEIRS}`)).lastSeen).toBeNull();
  });

  it('bad payloads change nothing, are counted in /metrics, and the collector stays healthy', async () => {
    const good = telemetryEveryMinute(MINE, at(day, '08:00'), at(day, '09:00'), () => 'running');
    const client = await connect(collector.mqttPort, AGENT);
    await publishAll(client, good);
    const usage = () => getJson(collector.baseUrl, `/v1/instruments/${MINE}/usage?from=${day}&to=${day}`);
    const settled = await waitFor(
      'one hour running',
      usage,
      (u) => (u as { runningHours: number }).runningHours === 1,
    );
    const instrument = await getJson<Instrument>(collector.baseUrl, `/v1/instruments/${MINE}`);
    const m0 = await metrics();
    const invalidBefore = metric(m0, 'dayi_mqtt_rejected_total', 'reason="invalid_payload"');
    const tooLargeBefore = metric(m0, 'dayi_mqtt_rejected_total', 'reason="too_large"');

    const topic = `dayi/v1/${MINE}/telemetry`;
    const ts = at(day, '08:30');
    const bad = [
      'not json at all',
      '{"ts":', // truncated
      JSON.stringify({ ts, seq: 1000, metrics: { power_w: 'high' } }), // wrong type
      JSON.stringify({ ts, seq: 1001, metrics: { power_w: 5 }, state: 'exploded' }), // unknown state
      `{"ts":${ts},"seq":1002,"metrics":{"power_w":1e999},"state":"off"}`, // not finite
      JSON.stringify({ ts: Math.floor(ts / 1000), seq: 1003, metrics: {}, state: 'off' }), // seconds, not ms
      JSON.stringify({ ts, seq: 1004, metrics: { power_w: 1 }, state: 'off', padding: 'x'.repeat(70_000) }), // oversized
      JSON.stringify({ ts, seq: -1, metrics: {}, state: 'off' }), // negative seq
      JSON.stringify([1, 2, 3]),
    ];
    for (const payload of bad) {
      // Acknowledged (a replay would be just as bad), kept in `rejected`, never applied.
      await client.publishAsync(topic, payload, { qos: 1 });
    }
    const viaMosquitto = await mosquittoPub(collector.mqttPort, AGENT, topic, [
      '{"state":"running"}',
      'garbage',
    ]);
    expect(viaMosquitto.code, viaMosquitto.stderr).toBe(0);
    await client.endAsync();

    let m = '';
    const invalid = () => metric(m, 'dayi_mqtt_rejected_total', 'reason="invalid_payload"');
    const tooLarge = () => metric(m, 'dayi_mqtt_rejected_total', 'reason="too_large"');
    await waitFor(
      'every bad payload to be counted as rejected in /metrics',
      async () => {
        m = await metrics();
        return [invalid() - invalidBefore, tooLarge() - tooLargeBefore];
      },
      ([i, t]) => i! + t! >= bad.length + 2,
    );
    // One oversized payload; the other eight of mqtt.js and the two of mosquitto_pub are invalid.
    expect(invalid() - invalidBefore).toBe(bad.length - 1 + 2);
    expect(tooLarge() - tooLargeBefore).toBe(1);
    const health = await fetch(`${collector.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', store: 'ok' });
    expect(await usage()).toEqual(settled);
    expect(await getJson<Instrument>(collector.baseUrl, `/v1/instruments/${MINE}`)).toEqual(instrument);

    // And the broker still takes good messages afterwards.
    const after = await connect(collector.mqttPort, AGENT);
    await publishAll(
      after,
      telemetryEveryMinute(MINE, at(day, '10:00'), at(day, '10:30'), () => 'running', 500),
    );
    await after.endAsync();
    await waitFor(
      '1.5 h running after the bad payloads',
      usage,
      (u) => (u as { runningHours: number }).runningHours === 1.5,
    );
  });
});
