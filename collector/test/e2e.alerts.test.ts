/**
 * Alerts end to end, through real MQTT clients (mqtt.js, mosquitto_pub), a real agent process and
 * real HTTP:
 * - an agent killed with kill -9 raises `offline` (its will) within offlineAfter; it resolves when
 *   the agent is back; a client that just goes quiet is offline offlineAfter after its last message;
 * - a lab scenario published over MQTT raises its anomaly alerts at the times they happened, the
 *   same when the same data is replayed shuffled;
 * - alerts, acks and detector state are the same after `kill -9` of the collector and a restart,
 *   and after `dayi collector rederive`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { TopicKind, TopicPayloads } from '@dayi/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type DetectMessage, detectAll, episodes } from '../src/detect/index.ts';
import { detectSettings, resolveAnomaly } from '../src/detect/settings.ts';
import {
  ALERT_INSTRUMENT,
  type AlertJson,
  alertTables,
  allAlerts,
  detectBacklog,
  detectorsIdle,
  postJson,
  SCENARIO_ANOMALY,
  scenarioMessages,
  THRESHOLDS,
} from './helpers/alerts-scenario.ts';
import {
  AGENT,
  e2eConfig,
  getJson,
  PLATFORM_KEY,
  ROOT,
  type RunningCollector,
  startChild,
  startInProcess,
  stopChild,
  tempDir,
  waitFor,
} from './helpers/e2e-collector.ts';
import { connect, mosquittoPub, publishAll, shuffled } from './helpers/e2e-mqtt.ts';

const AGENT_ID = 'ZJ-NMR-0042';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
const QUIET_ID = 'ZJ-FCM-0003';

function alertsConfig(dir: string, extra: Record<string, unknown> = {}) {
  const base = e2eConfig(dir, [ALERT_INSTRUMENT, AGENT_ID, QUIET_ID]);
  return {
    ...base,
    instruments: [
      {
        id: ALERT_INSTRUMENT,
        name: 'Powder XRD',
        org: 'Test University',
        thresholds: THRESHOLDS,
        anomaly: SCENARIO_ANOMALY,
      },
      { id: AGENT_ID, name: 'NMR', org: 'Test University' },
      { id: QUIET_ID, name: 'Flow cytometer', org: 'Other University' },
    ],
    alerts: { detectEvery: '200ms', clearAfter: '2s', reorderWait: '1s' },
    ...extra,
  };
}

/** Waits until the detection pass has folded everything (backlog 0, no observation waiting). */
async function settle(c: RunningCollector, dbPath: string): Promise<void> {
  await waitFor(
    'the detection pass to fold everything',
    async () => (await detectBacklog(c.baseUrl)) === 0 && detectorsIdle(dbPath),
    (ok) => ok,
    60_000,
  );
}

const open: { close: () => Promise<void> }[] = [];
const temps: { remove: () => void }[] = [];
afterAll(async () => {
  for (const c of open.splice(0)) await c.close().catch(() => {});
  for (const t of temps.splice(0)) t.remove();
});

function temp() {
  const t = tempDir();
  temps.push(t);
  return t;
}

describe('offline alerts with a real agent and real MQTT clients', () => {
  it('kill -9 of the agent: offline (its will) within offlineAfter; back after a restart: resolved', async () => {
    const tmp = temp();
    const collector = await startInProcess(alertsConfig(tmp.dir, { offlineAfter: '4s' }));
    open.push(collector);
    const file = join(tmp.dir, 'agent.yaml');
    writeFileSync(
      file,
      stringify({
        agent: { id: 'lab-e2e' },
        mqtt: {
          url: collector.mqttUrl,
          username: AGENT.username,
          password: AGENT.password,
          reconnect: { min: '200ms', max: '1s' },
        },
        outbox: { dir: join(tmp.dir, 'outbox'), fsync: false },
        log: { level: 'warn' },
        instruments: [
          {
            id: AGENT_ID,
            publishEvery: '500ms',
            inputs: [{ type: 'simulated', pattern: 'constant', every: '200ms' }],
          },
        ],
      }),
    );
    const startAgent = () =>
      spawn(process.execPath, [join(ROOT, 'bin/dayi.js'), 'agent', '-c', file], {
        cwd: ROOT,
        stdio: 'ignore',
      });
    const online = () =>
      waitFor(
        `${AGENT_ID} online`,
        () => getJson<{ online: boolean }>(collector.baseUrl, `/v1/instruments/${AGENT_ID}`),
        (i) => i.online,
        30_000,
      );
    let agent: ChildProcess = startAgent();
    try {
      await online();
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
      const [offline] = await waitFor(
        'an open offline alert',
        () => allAlerts(collector.baseUrl, `&kind=offline&instrument=${AGENT_ID}`),
        (a) => a.length === 1,
        20_000,
      );
      expect(offline).toMatchObject({
        kind: 'offline',
        type: 'offline',
        status: 'open',
        detail: { reason: 'will' },
      });
      // Within offlineAfter of the last message the collector received from the agent.
      const db = new DatabaseSync(join(tmp.dir, 'dayi.sqlite'), { readOnly: true });
      const lastBeforeWill = db
        .prepare(
          `SELECT MAX(received_at) AS t FROM messages WHERE instrument_id = ? AND NOT (kind = 'status' AND payload LIKE '%"online":false%')`,
        )
        .get(AGENT_ID) as { t: number };
      db.close();
      expect(Date.parse(offline!.openedAt) - lastBeforeWill.t).toBeLessThanOrEqual(4000);

      agent = startAgent();
      await online();
      const [resolved] = await waitFor(
        'the offline alert resolved',
        () => allAlerts(collector.baseUrl, `&kind=offline&instrument=${AGENT_ID}`),
        (a) => a[0]?.status === 'resolved',
        30_000,
      );
      expect(resolved!.id).toBe(offline!.id);
      expect(resolved!.resolved).toEqual({ at: resolved!.closedAt, by: null, note: 'condition cleared' });
      expect(Date.parse(resolved!.closedAt!)).toBeGreaterThan(Date.parse(offline!.openedAt));
    } finally {
      if (agent.exitCode === null) {
        agent.kill('SIGKILL');
        await new Promise((r) => agent.once('exit', r));
      }
    }
  });

  it('a collector restart (SIGTERM, start again) does not make its agents offline, though their wills arrive', async () => {
    const tmp = temp();
    const dbPath = join(tmp.dir, 'dayi.sqlite');
    const mqttPort = await freePort();
    const config = alertsConfig(tmp.dir, { offlineAfter: '3s', mqtt: { host: '127.0.0.1', port: mqttPort } });
    let collector = await startChild(config, tmp.dir);
    open.push(collector);
    const file = join(tmp.dir, 'agent.yaml');
    writeFileSync(
      file,
      stringify({
        agent: { id: 'lab-restart' },
        mqtt: {
          url: `mqtt://127.0.0.1:${mqttPort}`,
          username: AGENT.username,
          password: AGENT.password,
          reconnect: { min: '200ms', max: '500ms' },
        },
        outbox: { dir: join(tmp.dir, 'outbox'), fsync: false },
        log: { level: 'warn' },
        instruments: [
          {
            id: AGENT_ID,
            publishEvery: '500ms',
            inputs: [{ type: 'simulated', pattern: 'constant', every: '200ms' }],
          },
        ],
      }),
    );
    const agent = spawn(process.execPath, [join(ROOT, 'bin/dayi.js'), 'agent', '-c', file], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    try {
      const online = () =>
        waitFor(
          `${AGENT_ID} online`,
          () => getJson<{ online: boolean }>(collector.baseUrl, `/v1/instruments/${AGENT_ID}`),
          (i) => i.online,
          30_000,
        );
      await online();
      await collector.close();
      // The broker published the agent's will as it closed the connections: it is in the ledger.
      const db = new DatabaseSync(dbPath, { readOnly: true });
      const wills = db
        .prepare(
          `SELECT COUNT(*) AS n FROM messages WHERE instrument_id = ? AND kind = 'status' AND payload LIKE '%"online":false%'`,
        )
        .get(AGENT_ID) as { n: number };
      db.close();
      expect(wills.n).toBeGreaterThan(0);
      collector = await startChild(config, tmp.dir);
      open.push(collector);
      await online();
      const restartedAt = Date.now();
      // Wait until messages from well after offlineAfter have been folded: by then an offline alert would exist.
      await waitFor(
        'data from after the restart plus offlineAfter, folded',
        async () => {
          const d = new DatabaseSync(dbPath, { readOnly: true });
          const last = d
            .prepare('SELECT MAX(received_at) AS t FROM messages WHERE instrument_id = ?')
            .get(AGENT_ID) as {
            t: number;
          };
          d.close();
          return last.t > restartedAt + 4000 && (await detectBacklog(collector.baseUrl)) === 0;
        },
        (ok) => ok,
        30_000,
      );
      expect(await allAlerts(collector.baseUrl, `&kind=offline&instrument=${AGENT_ID}`)).toEqual([]);
    } finally {
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
    }
  });

  it('a sensor that just goes quiet (mosquitto_pub, no will): offline offlineAfter after its last message', async () => {
    const tmp = temp();
    const collector = await startInProcess(alertsConfig(tmp.dir, { offlineAfter: '3s' }));
    open.push(collector);
    const now = Date.now();
    const r = await mosquittoPub(collector.mqttPort, AGENT, `dayi/v1/${QUIET_ID}/telemetry`, [
      JSON.stringify({ ts: now - 1000, seq: 1, metrics: { power_w: 30 }, state: 'standby' }),
      JSON.stringify({ ts: now, seq: 2, metrics: { power_w: 31 }, state: 'standby' }),
    ]);
    expect(r.code).toBe(0);
    const [offline] = await waitFor(
      'offline after silence',
      () => allAlerts(collector.baseUrl, `&kind=offline&instrument=${QUIET_ID}`),
      (a) => a.length === 1,
      20_000,
    );
    const db = new DatabaseSync(join(tmp.dir, 'dayi.sqlite'), { readOnly: true });
    const last = db
      .prepare('SELECT MAX(received_at) AS t FROM messages WHERE instrument_id = ?')
      .get(QUIET_ID) as {
      t: number;
    };
    db.close();
    expect(offline).toMatchObject({ status: 'open', detail: { reason: 'silent' }, org: 'Other University' });
    expect(Date.parse(offline!.openedAt)).toBe(last.t + 3000);
  });
});

describe('anomaly alerts from data published over MQTT', () => {
  const messages = scenarioMessages();

  async function runScenario(order: 'in order' | 'shuffled') {
    const tmp = temp();
    const collector = await startInProcess(alertsConfig(tmp.dir));
    open.push(collector);
    const client = await connect(collector.mqttPort, AGENT);
    const list = order === 'in order' ? messages : shuffled(messages, 3);
    for (let i = 0; i < list.length; i += 500) await publishAll(client, list.slice(i, i + 500));
    await client.endAsync();
    await settle(collector, join(tmp.dir, 'dayi.sqlite'));
    return { collector, tmp, alerts: await allAlerts(collector.baseUrl, `&instrument=${ALERT_INSTRUMENT}`) };
  }

  let inOrder: AlertJson[] = [];

  it('raises each alert at the time it happened, as the pure detectors find it over the ledger', async () => {
    const { tmp, alerts } = await runScenario('in order');
    inOrder = alerts;
    expect(new Set(alerts.map((a) => a.type))).toEqual(
      new Set([
        'out_of_hours',
        'power_out_of_band',
        'vendor_fault',
        'long_run',
        'short_cycling',
        'data_gap',
        'sensor_stuck',
      ]),
    );
    expect(alerts.every((a) => a.kind === 'anomaly')).toBe(true);
    // The sticky data gap waits for a person; everything else cleared by itself.
    expect(alerts.filter((a) => a.status === 'open').map((a) => a.type)).toEqual(['data_gap']);
    // Every episode kept is one the pure detectors find over what the ledger holds.
    const db = new DatabaseSync(join(tmp.dir, 'dayi.sqlite'), { readOnly: true });
    const ledger = db
      .prepare(
        `SELECT m.id, m.kind, m.ts, m.received_at, m.payload, o.state FROM messages m
           LEFT JOIN observations o ON o.message_id = m.id AND o.instrument_id = m.instrument_id AND o.ts = m.ts
           WHERE m.instrument_id = ? ORDER BY m.id`,
      )
      .all(ALERT_INSTRUMENT) as {
      id: number;
      kind: TopicKind;
      ts: number;
      received_at: number;
      payload: string;
      state: string | null;
    }[];
    const stored = db
      .prepare(
        'SELECT type, start, "end", sticky FROM alert_episodes WHERE instrument_id = ? ORDER BY start, type, sticky',
      )
      .all(ALERT_INSTRUMENT) as { type: string; start: number; end: number | null; sticky: number }[];
    db.close();
    const detectMessages: DetectMessage[] = ledger.map((r) => ({
      id: r.id,
      kind: r.kind,
      payload: JSON.parse(r.payload) as TopicPayloads[TopicKind],
      ts: r.ts,
      receivedAt: r.received_at,
      state: r.state as DetectMessage['state'],
    }));
    const settings = detectSettings(resolveAnomaly(SCENARIO_ANOMALY, undefined), {
      offlineAfterMs: 5 * 60_000,
      timezone: 'Asia/Shanghai',
      signal: 'power_w',
    });
    const expected = episodes(detectAll({ settings, messages: detectMessages, now: Date.now() }))
      .filter((f) => f.type !== 'offline')
      .map((f) => [f.type, f.start, f.end, f.sticky]);
    expect(stored.map((e) => [e.type, e.start, e.end, e.sticky === 1]).sort()).toEqual(expected.sort());
  });

  it('the same data replayed shuffled gives the same alerts', async () => {
    const { alerts } = await runScenario('shuffled');
    const view = (list: AlertJson[]) =>
      list.map(({ id, type, status, openedAt, closedAt, count, detail }) => ({
        id,
        type,
        status,
        openedAt,
        closedAt,
        count,
        detail,
      }));
    expect(view(alerts)).toEqual(view(inOrder));
  });
});

describe('alerts, acks and detector state survive kill -9 and rederive', () => {
  it('are the same after kill -9 of the collector and a restart, and after dayi collector rederive', async () => {
    const tmp = temp();
    const dbPath = join(tmp.dir, 'dayi.sqlite');
    const config = alertsConfig(tmp.dir);
    let collector = await startChild(config, tmp.dir);
    open.push(collector);
    const client = await connect(collector.mqttPort, AGENT);
    const messages = scenarioMessages();
    for (let i = 0; i < messages.length; i += 500) await publishAll(client, messages.slice(i, i + 500));
    await client.endAsync();
    // kill -9 right after the last PUBACK: the detection pass may be anywhere in its work.
    collector.child.kill('SIGKILL');
    await new Promise((r) => collector.child.once('exit', r));

    collector = await startChild(config, tmp.dir);
    open.push(collector);
    await settle(collector, dbPath);
    const alerts = await allAlerts(collector.baseUrl, `&instrument=${ALERT_INSTRUMENT}`);
    const gap = alerts.find((a) => a.type === 'data_gap')!;
    await postJson(collector.baseUrl, `/v1/alerts/${gap.id}/ack`, { note: 'agent disk was full; cleaned' });
    await postJson(collector.baseUrl, `/v1/alerts/${gap.id}/resolve`, { note: 'outbox resized to 1 GiB' });
    const report = await postJson(
      collector.baseUrl,
      `/v1/instruments/${ALERT_INSTRUMENT}/reports`,
      { text: 'the door interlock sticks' },
      PLATFORM_KEY,
    );
    await postJson(collector.baseUrl, `/v1/alerts/${report.id}/ack`, { note: 'vendor called' });
    const before = alertTables(dbPath);
    const beforeApi = await allAlerts(collector.baseUrl);
    expect(before.events.length).toBeGreaterThan(10);

    collector.child.kill('SIGKILL');
    await new Promise((r) => collector.child.once('exit', r));
    collector = await startChild(config, tmp.dir);
    open.push(collector);
    await settle(collector, dbPath);
    expect(alertTables(dbPath)).toEqual(before);
    expect(await allAlerts(collector.baseUrl)).toEqual(beforeApi);

    await collector.close();
    const cfgFile = join(tmp.dir, 'collector.yaml');
    const rederive = spawnSync(
      process.execPath,
      [join(ROOT, 'bin/dayi.js'), 'collector', 'rederive', '-c', cfgFile],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(rederive.status, rederive.stderr).toBe(0);
    expect(rederive.stdout).toMatch(/^rederived every instrument from the ledger/);
    collector = await startChild(config, tmp.dir);
    open.push(collector);
    await settle(collector, dbPath);
    expect(alertTables(dbPath)).toEqual(before);
    expect(await allAlerts(collector.baseUrl)).toEqual(beforeApi);
    await stopChild(collector.child, 'SIGTERM');
  });
});
