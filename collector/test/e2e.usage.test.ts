import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  getJson,
  PLATFORM_KEY,
  type RunningCollector,
  startInProcess,
  tempDir,
  waitFor,
} from './helpers/e2e-collector.ts';
import {
  at,
  connect,
  daysAgo,
  type Message,
  mosquittoPub,
  publishAll,
  shuffled,
  telemetryEveryMinute,
} from './helpers/e2e-mqtt.ts';

/**
 * An independent client (mosquitto_pub, mqtt.js; not the agent) publishes SPEC telemetry with past
 * `ts`, a sample a minute as an agent's evidence would be, and the API answers exact hours.
 */

interface Usage {
  id: string;
  from: string;
  to: string;
  poweredHours: number;
  runningHours: number;
  coverage: number;
  days: { date: string; poweredHours: number; runningHours: number; coverage: number }[];
}

const LUNCH = 'LAB-NMR-0001';
const NIGHT = 'LAB-MS-0002';
const TWICE = 'LAB-NMR-0003';
const CLAMP = 'LAB-SEM-0004'; // a CT clamp node: metrics only, no state

// A working day with a lunch break: powered 08:00–18:00, running 08:30–12:00 and 13:30–17:45 local.
function lunchDay(id: string, date: string): Message[] {
  const running = (t: number) =>
    (t >= at(date, '08:30') && t < at(date, '12:00')) || (t >= at(date, '13:30') && t < at(date, '17:45'));
  return telemetryEveryMinute(id, at(date, '08:00'), at(date, '18:00'), (t) =>
    running(t) ? 'running' : 'idle',
  );
}

describe('usage hours from MQTT to /v1/instruments/{id}/usage', () => {
  const tmp = tempDir();
  let collector: RunningCollector;
  let client: MqttClient;
  const day = daysAgo(20);
  const night = daysAgo(10);
  const nextDay = daysAgo(9);

  beforeAll(async () => {
    collector = await startInProcess(e2eConfig(tmp.dir, [LUNCH, NIGHT, TWICE, CLAMP]));
    client = await connect(collector.mqttPort, AGENT);
  });
  afterAll(async () => {
    await client?.endAsync();
    await collector?.close();
    tmp.remove();
  });

  const usage = (id: string, from: string, to: string) =>
    getJson<Usage>(collector.baseUrl, `/v1/instruments/${id}/usage?from=${from}&to=${to}`);

  /** Waits until the collector has derived the day (the last message's ts is `lastSeen`). */
  async function settled(id: string, from: string, to: string, expectedPowered: number): Promise<Usage> {
    return waitFor(
      `${id} usage ${from}..${to} to reach ${expectedPowered} powered hours`,
      () => usage(id, from, to),
      (u) => u.poweredHours === expectedPowered,
    );
  }

  it('a day with a lunch break, published with mosquitto_pub: 10.00 h powered, 7.75 h running', async () => {
    const messages = lunchDay(LUNCH, day);
    const res = await mosquittoPub(
      collector.mqttPort,
      AGENT,
      `dayi/v1/${LUNCH}/telemetry`,
      messages.map((m) => m.payload),
    );
    expect(res.code, res.stderr).toBe(0);
    const u = await settled(LUNCH, day, day, 10);
    expect(u).toMatchObject({ id: LUNCH, from: day, to: day, poweredHours: 10, runningHours: 7.75 });
    expect(u.days).toHaveLength(1);
    expect(u.days[0]).toMatchObject({ date: day, poweredHours: 10, runningHours: 7.75 });
    // Evidence from 08:00 until 18:05 (the 18:00 `off` sample counts for offlineAfter = 5 min).
    expect(u.coverage).toBeCloseTo((10 * 60 + 5) / (24 * 60), 3);
    // The days around it had no evidence: zero hours, zero coverage, still listed.
    const around = await usage(LUNCH, daysAgo(21), daysAgo(19));
    expect(around.days.map((d) => [d.date, d.poweredHours, d.runningHours, d.coverage])).toEqual([
      [daysAgo(21), 0, 0, 0],
      [day, 10, 7.75, u.coverage],
      [daysAgo(19), 0, 0, 0],
    ]);
    expect(around).toMatchObject({ poweredHours: 10, runningHours: 7.75 });
  });

  it('a run across midnight in Asia/Shanghai, published out of order, splits over the two days', async () => {
    // Powered 21:30, running 22:00 until 03:30 the next morning, then off.
    const messages = telemetryEveryMinute(NIGHT, at(night, '21:30'), at(nextDay, '03:30'), (t) =>
      t < at(night, '22:00') ? 'idle' : 'running',
    );
    await publishAll(client, shuffled(messages, 7));
    const u = await settled(NIGHT, night, nextDay, 6);
    expect(u.days.map((d) => [d.date, d.poweredHours, d.runningHours])).toEqual([
      [night, 2.5, 2],
      [nextDay, 3.5, 3.5],
    ]);
    expect(u).toMatchObject({ poweredHours: 6, runningHours: 5.5 });
  });

  it('every message sent twice gives the same figures as sent once', async () => {
    const messages = lunchDay(TWICE, day);
    // Twice in a row, then the whole day replayed again, as an agent's outbox would after a reconnect.
    await publishAll(
      client,
      messages.flatMap((m) => [m, m]),
    );
    await publishAll(client, shuffled(messages, 3));
    const twice = await settled(TWICE, day, day, 10);
    const once = await usage(LUNCH, day, day);
    expect({ ...twice, id: LUNCH }).toEqual(once);
    expect(twice).toMatchObject({ poweredHours: 10, runningHours: 7.75 });
    const metrics = await (await fetch(`${collector.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/dayi_mqtt_messages_total\{kind="telemetry",outcome="duplicate"\} (\d+)/);
    const duplicates = Number(
      /dayi_mqtt_messages_total\{kind="telemetry",outcome="duplicate"\} (\d+)/.exec(metrics)?.[1],
    );
    expect(duplicates).toBe(messages.length * 2);
  });

  it('telemetry without state is classified with the thresholds the platform PUT in the registry', async () => {
    const res = await fetch(`${collector.baseUrl}/v1/instruments/${CLAMP}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${PLATFORM_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        org: 'Test University',
        thresholds: { signal: 'current_a', standby: 0.1, idle: 0.5, running: 2 },
      }),
    });
    expect(res.status).toBe(200);
    // 08:00–09:00 standby (0.3 A), 09:00–11:30 running (2.4 A), 11:30–12:00 idle (1 A), then off (0 A).
    const current = (t: number) =>
      t < at(day, '09:00') ? 0.3 : t < at(day, '11:30') ? 2.4 : t < at(day, '12:00') ? 1 : 0;
    const lines: string[] = [];
    for (let t = at(day, '08:00'), seq = 0; t <= at(day, '12:00'); t += 60_000, seq++) {
      lines.push(JSON.stringify({ ts: t, seq, metrics: { current_a: current(t), voltage_v: 230 } }));
    }
    const pub = await mosquittoPub(collector.mqttPort, AGENT, `dayi/v1/${CLAMP}/telemetry`, lines);
    expect(pub.code, pub.stderr).toBe(0);
    const u = await settled(CLAMP, day, day, 4);
    expect(u).toMatchObject({ poweredHours: 4, runningHours: 2.5 });
  });
});
