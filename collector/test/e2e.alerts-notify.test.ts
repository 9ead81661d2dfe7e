/**
 * The collector as built for users: an agent's seq restart (its outbox lost) over MQTT becomes a
 * `data_gap` alert, a user's report a `reported` one, and both reach a webhook receiver, signed,
 * through the routes of `notify:`. Checks the wiring in app.ts that unit tests of the detectors,
 * the alert store and the notifier each leave out.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import { AGENT, e2eConfig, MANAGER_KEY, PLATFORM_KEY, tempDir } from './helpers/e2e-collector.ts';
import { type Receiver, startReceiver } from './helpers/receivers.ts';

interface Item {
  status: string;
  detail: Record<string, unknown>;
  [k: string]: unknown;
}

const SECRET = 'webhook-secret-0123456789';
const ID = 'GAP-0001';

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('alerts reach people: MQTT → detectors → alert store → notifier → webhook', () => {
  const tmp = tempDir();
  let hook: Receiver;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    hook = await startReceiver();
    app = await build(
      e2eConfig(tmp.dir, [ID], {
        notify: {
          channels: [{ name: 'ops', type: 'webhook', url: `${hook.url}/hook`, secret: SECRET }],
          routes: [{ match: { kind: ['anomaly', 'reported'] }, channels: ['ops'] }],
          pollEvery: '100ms',
        },
        alerts: { detectEvery: '100ms' },
      }),
      { logger: false },
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await hook?.close();
    tmp.remove();
  });

  const api = async (path: string, init: RequestInit = {}, key = PLATFORM_KEY) => {
    const r = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });
    return { status: r.status, body: (await r.json()) as { items: Item[] } };
  };

  it('raises data_gap for a seq restart and a reported alert, and delivers both signed', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.dayi.mqttPort}`, {
      clientId: AGENT.username,
      username: AGENT.username,
      password: AGENT.password,
      reconnectPeriod: 0,
    });
    const topic = `dayi/v1/${ID}/telemetry`;
    const t0 = Date.now() - 30 * 60_000;
    const tele = (seq: number, ts: number) => JSON.stringify({ ts, seq, metrics: { power_w: 500 } });
    for (let s = 1; s <= 3; s++) await client.publishAsync(topic, tele(s, t0 + s * 10_000), { qos: 1 });
    // the agent PC was reinstalled: its outbox is gone and seq starts again, later
    for (let s = 1; s <= 2; s++)
      await client.publishAsync(topic, tele(s, t0 + 10 * 60_000 + s * 10_000), { qos: 1 });
    await client.endAsync();

    const gap = await until('the data_gap alert', async () => {
      const r = await api(`/v1/alerts?type=data_gap&instrument=${ID}`);
      return r.body.items?.[0];
    });
    expect(gap).toMatchObject({ instrumentId: ID, kind: 'anomaly', type: 'data_gap', status: 'open' });
    expect(gap.detail).toMatchObject({ source: 'seq_restart', cause: 'seq_reused', seq: 1 });

    const reported = await api(
      `/v1/instruments/${ID}/reports`,
      { method: 'POST', body: JSON.stringify({ text: '样品台异响', severity: 'warning' }) },
      MANAGER_KEY,
    );
    expect(reported.status).toBe(201);

    const events = await until('two webhook deliveries', () => {
      const got = hook.received.map((r) => JSON.parse(r.body) as { alert: { type: string } });
      const types = new Set(got.map((b) => b.alert.type));
      return types.has('data_gap') && types.has('reported') ? hook.received : undefined;
    });
    for (const h of events) {
      const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(h.headers['x-dayi-signature']));
      expect(sig, h.body).not.toBeNull();
      expect(sig![2]).toBe(createHmac('sha256', SECRET).update(`${sig![1]}.${h.body}`).digest('hex'));
    }
    const deliveries = await api('/v1/notifications');
    expect(deliveries.body.items.filter((d) => d.status === 'delivered')).toHaveLength(events.length);
  });
});
