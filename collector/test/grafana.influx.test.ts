import { readdirSync, readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  getJson,
  type RunningCollector,
  startInProcess,
  tempDir,
} from './helpers/e2e-collector.ts';
import { connect, type Message, publishAll } from './helpers/e2e-mqtt.ts';
import { type Influxd, startInfluxd } from './helpers/influxd.ts';

/**
 * Every panel query of the InfluxDB dashboards in dashboards/grafana/, with its template
 * variables filled in as Grafana would, runs against a real influxd fed by the collector (MQTT in,
 * shipper out; alert events from the alerts' table) and returns rows. So do the variables' own
 * queries. Each variable is filled with a value its own query returns.
 */

const DIR = new URL('../../dashboards/grafana/', import.meta.url);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

interface Target {
  refId: string;
  query: string;
  rawQuery?: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  templating?: { list: { name: string; query: string; datasource?: { uid: string } }[] };
  panels: { title: string; datasource?: { uid: string }; targets: Target[] }[];
}

const influxDashboards = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as Dashboard)
  .filter((d) => d.panels.some((p) => p.datasource?.uid === 'dayi-influxdb'));

/** Grafana's InfluxQL interpolation of a single value inside a regex: escaped, as it does. */
function regexValue(v: string): string {
  return v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

function interpolate(q: string, vars: Record<string, string>, from: number, to: number): string {
  let out = q
    .replaceAll('$timeFilter', `time >= ${from}ms and time <= ${to}ms`)
    .replaceAll('$__interval', '10m');
  for (const [name, value] of Object.entries(vars)) out = out.replaceAll(`$${name}`, regexValue(value));
  return out;
}

describe('Grafana dashboards on a real influxd fed by the collector', () => {
  const tmp = tempDir();
  let influxd: Influxd;
  let collector: RunningCollector & { app: Awaited<ReturnType<typeof startInProcess>>['app'] };
  let client: MqttClient;
  const now = Date.now();
  const ids = ['GF-NMR-0001', 'GF-SEM-0002', 'GF-IDLE-0003'];

  beforeAll(async () => {
    influxd = await startInfluxd();
    const config = e2eConfig(tmp.dir, ids, {
      influx: { url: influxd.url, database: 'dayi', flushEvery: '200ms' },
    });
    config.instruments = [
      { id: ids[0]!, org: 'Zhejiang University', category: 'NMR' },
      { id: ids[1]!, org: 'Westlake (Hangzhou)', category: 'Electron microscopy' },
      { id: ids[2]!, org: 'Zhejiang University', category: 'NMR' },
    ];
    collector = await startInProcess(config);
    client = await connect(collector.mqttPort, AGENT);
    const messages: Message[] = [];
    let seq = 0;
    // the last 3 hours up to now: running, then idle, a sample a minute (live panels)
    for (let t = now - 3 * HOUR; t <= now; t += MIN) {
      for (const id of ids.slice(0, 2)) {
        const state = t < now - HOUR ? 'idle' : 'running';
        messages.push({
          topic: `dayi/v1/${id}/telemetry`,
          payload: JSON.stringify({
            ts: t,
            seq: seq++,
            metrics: { power_w: state === 'running' ? 900 : 300 },
            state,
          }),
        });
      }
    }
    // past days, final: a working day 3 and 4 days ago (usage_daily)
    for (const daysAgo of [3, 4]) {
      for (let t = now - daysAgo * DAY; t < now - daysAgo * DAY + 6 * HOUR; t += MIN) {
        for (const id of ids.slice(0, 2)) {
          messages.push({
            topic: `dayi/v1/${id}/telemetry`,
            payload: JSON.stringify({ ts: t, seq: seq++, metrics: { power_w: 900 }, state: 'running' }),
          });
        }
      }
    }
    // an instrument that reports, switched off: idle
    for (let t = now - 5 * DAY; t < now - 5 * DAY + 2 * HOUR; t += 10 * MIN) {
      messages.push({
        topic: `dayi/v1/${ids[2]}/telemetry`,
        payload: JSON.stringify({ ts: t, seq: seq++, metrics: { power_w: 0 }, state: 'off' }),
      });
    }
    await publishAll(client, messages);
    // alert events, as the alerts module appends them (test fixture: that module is built apart)
    const db = new DatabaseSync(`${tmp.dir}/dayi.sqlite`);
    const add = db.prepare(
      `INSERT INTO alert_events (alert_id, instrument_id, kind, type, severity, status, transition, at, by, note, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    add.run(
      'a1',
      ids[2]!,
      'idle',
      'idle_days',
      'warning',
      'open',
      'opened',
      now - 2 * DAY,
      null,
      null,
      '{"idleDays":95}',
    );
    add.run(
      'a2',
      ids[0]!,
      'anomaly',
      'power_spike',
      'critical',
      'open',
      'opened',
      now - DAY,
      null,
      null,
      '{"power_w":4000}',
    );
    add.run(
      'a2',
      ids[0]!,
      'anomaly',
      'power_spike',
      'critical',
      'acknowledged',
      'acknowledged',
      now - DAY + HOUR,
      'mgr',
      'seen',
      '{"power_w":4000}',
    );
    db.close();
    // asking for usage derives the final days now (the background pass would, a little later)
    for (const id of ids) {
      const from = new Date(now - 10 * DAY + 8 * HOUR).toISOString().slice(0, 10);
      const to = new Date(now - 2 * DAY + 8 * HOUR).toISOString().slice(0, 10);
      await getJson(collector.baseUrl, `/v1/instruments/${id}/usage?from=${from}&to=${to}`);
    }
    await collector.app.dayi.ctx.exports!.influx!.flush();
  });
  afterAll(async () => {
    await client?.endAsync();
    await collector?.close();
    await influxd?.close();
    tmp.remove();
  });

  it('has the fleet, instrument and alerts dashboards', () => {
    expect(influxDashboards.map((d) => d.uid).sort()).toEqual([
      'dayi-alerts',
      'dayi-fleet',
      'dayi-instrument',
    ]);
  });

  for (const dash of influxDashboards) {
    it(`${dash.title}: every variable and panel query returns rows`, async () => {
      const from = now - 120 * DAY;
      const to = now + MIN;
      const vars: Record<string, string> = {};
      // Variables in order (a later one may use an earlier one), each set to a value it returns.
      for (const v of dash.templating?.list ?? []) {
        const series = await influxd.query(interpolate(v.query, vars, from, to), 'dayi');
        const values = series.flatMap((s) => s.values.map((row) => String(row[1])));
        expect(values.length, `variable ${v.name}: ${v.query}`).toBeGreaterThan(0);
        vars[v.name] = values.includes('Zhejiang University')
          ? 'Zhejiang University'
          : values.includes(ids[0]!)
            ? ids[0]!
            : values.includes('NMR')
              ? 'NMR'
              : values[0]!;
      }
      for (const panel of dash.panels) {
        for (const target of panel.targets) {
          const q = interpolate(target.query, vars, from, to);
          const series = await influxd.query(q, 'dayi');
          const rows = series.reduce((n, s) => n + s.values.length, 0);
          expect(rows, `${dash.title} / ${panel.title}: ${q}`).toBeGreaterThan(0);
        }
      }
    });
  }
});
