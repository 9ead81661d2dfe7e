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
  waitFor,
} from './helpers/e2e-collector.ts';
import { at, connect, daysAgo, type Message, publishAll, telemetryEveryMinute } from './helpers/e2e-mqtt.ts';
import { type Influxd, startInfluxd } from './helpers/influxd.ts';

/**
 * The "Done when", on a real influxd fed by a collector through MQTT: every accepted
 * telemetry message is one `telemetry` point (counts match exactly, per instrument), `usage_daily`
 * holds the hours `/usage` answers, and with influxd stopped for 20 s while data flows, then
 * restarted, the counts still match exactly.
 */

const NMR = 'ZJ-NMR-0001';
const SEM = 'ZJ-SEM.0002'; // a dot: tag values are escaped
const CLAMP = 'ZJ-CT-0003'; // metrics only, classified with the registry thresholds

interface Usage {
  days: { date: string; poweredHours: number; runningHours: number; coverage: number }[];
}

function ledgerTelemetry(dbPath: string): Map<string, number> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db
      .prepare(
        "SELECT instrument_id AS id, COUNT(*) AS n FROM messages WHERE kind = 'telemetry' GROUP BY instrument_id",
      )
      .all() as { id: string; n: number }[];
    return new Map(rows.map((r) => [r.id, r.n]));
  } finally {
    db.close();
  }
}

async function influxCounts(influxd: Influxd): Promise<Map<string, number>> {
  const series = await influxd.query('SELECT count(seq) FROM telemetry GROUP BY instrument', 'dayi');
  return new Map(series.map((s) => [s.tags!.instrument!, s.values[0]![1] as number]));
}

async function metric(baseUrl: string, name: string): Promise<string[]> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

describe('InfluxDB shipper against a real influxd', () => {
  const tmp = tempDir();
  let influxd: Influxd;
  let collector: RunningCollector & { app: Awaited<ReturnType<typeof startInProcess>>['app'] };
  let client: MqttClient;
  const dayA = daysAgo(6);
  const dayB = daysAgo(5);
  const dbPath = () => `${tmp.dir}/dayi.sqlite`;

  beforeAll(async () => {
    influxd = await startInfluxd();
    const config = e2eConfig(tmp.dir, [NMR, SEM, CLAMP], {
      influx: {
        url: influxd.url,
        database: 'dayi',
        flushEvery: '200ms',
        maxRetryDelay: '2s',
        batchLines: 500,
      },
    });
    config.instruments = [
      { id: NMR, name: '600 MHz NMR', org: 'Zhejiang University', category: 'NMR' },
      { id: SEM, name: 'FE-SEM', org: 'Westlake, "Lab" 3', category: 'Electron microscopy' },
      {
        id: CLAMP,
        org: 'Zhejiang University',
        category: 'Mass spectrometry',
        thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 400 },
      },
    ];
    collector = await startInProcess(config);
    client = await connect(collector.mqttPort, AGENT);
  });
  afterAll(async () => {
    await client?.endAsync();
    await collector?.close();
    await influxd?.close();
    tmp.remove();
  });

  it('writes one telemetry point per accepted message and the same hours as /usage', async () => {
    const messages: Message[] = [
      // a day with a lunch break and a night run across midnight
      ...telemetryEveryMinute(NMR, at(dayA, '08:00'), at(dayA, '12:00'), () => 'running'),
      ...telemetryEveryMinute(
        NMR,
        at(dayA, '13:00'),
        at(dayB, '02:00'),
        (t) => (t < at(dayA, '18:00') ? 'idle' : 'running'),
        1000,
      ),
      ...telemetryEveryMinute(SEM, at(dayA, '09:00'), at(dayA, '11:00'), () => 'standby'),
    ];
    // metrics only (classified by thresholds), a metric named like a tag, and an empty message
    const clamp = `dayi/v1/${CLAMP}/telemetry`;
    for (let i = 0; i < 90; i++) {
      messages.push({
        topic: clamp,
        payload: JSON.stringify({
          ts: at(dayB, '10:00') + i * 60_000,
          seq: i,
          metrics: { power_w: i < 60 ? 500 : 50, org: 1 },
        }),
      });
    }
    messages.push({
      topic: clamp,
      payload: JSON.stringify({ ts: at(dayB, '12:00'), seq: 1000, metrics: {} }),
    });
    // two messages in the same millisecond stay two points
    messages.push({
      topic: clamp,
      payload: JSON.stringify({ ts: at(dayB, '12:00'), seq: 1001, metrics: { power_w: 1 } }),
    });
    // state, status and event messages are not telemetry points
    messages.push({
      topic: `dayi/v1/${NMR}/state`,
      payload: JSON.stringify({ ts: at(dayB, '02:00'), seq: 1, state: 'off', since: at(dayB, '02:00') }),
    });
    messages.push({
      topic: `dayi/v1/${NMR}/status`,
      payload: JSON.stringify({ ts: at(dayB, '02:00'), online: true }),
    });
    await publishAll(client, messages);
    // every message again: duplicates are dropped by seq, and must not become points
    await publishAll(client, messages.slice(0, 200));

    const ledger = ledgerTelemetry(dbPath());
    expect([...ledger.values()].reduce((a, b) => a + b, 0)).toBe(
      messages.filter((m) => m.topic.endsWith('/telemetry')).length,
    );
    await collector.app.dayi.ctx.exports!.influx!.flush();
    expect(await influxCounts(influxd)).toEqual(ledger);

    // Tags from the registry, escaped; a metric named like a tag is a field of its own.
    const sem = await influxd.query(
      `SELECT count(seq) FROM telemetry WHERE instrument = '${SEM}' GROUP BY org, category`,
      'dayi',
    );
    expect(sem[0]!.tags).toEqual({ org: 'Westlake, "Lab" 3', category: 'Electron microscopy' });
    const fields = await influxd.query('SHOW FIELD KEYS FROM telemetry', 'dayi');
    const names = fields[0]!.values.map((v) => v[0]);
    expect(names).toEqual(expect.arrayContaining(['power_w', 'state', 'seq', 'metric_org']));
    const tagKeys = (await influxd.query('SHOW TAG KEYS FROM telemetry', 'dayi'))[0]!.values.map((v) => v[0]);
    expect(tagKeys.sort()).toEqual(['category', 'instrument', 'org']);
    for (const t of tagKeys) expect(names).not.toContain(t);

    // usage_daily: the hours /usage answers (asking recomputes the days, which ships them)
    for (const id of [NMR, SEM, CLAMP]) {
      const usage = await getJson<Usage>(
        collector.baseUrl,
        `/v1/instruments/${id}/usage?from=${dayA}&to=${dayB}`,
      );
      await collector.app.dayi.ctx.exports!.influx!.flush();
      const rows = await influxd.query(
        `SELECT powered_h, running_h, coverage FROM usage_daily WHERE instrument = '${id}'`,
        'dayi',
      );
      const byDay = new Map(
        (rows[0]?.values ?? []).map(([t, p, r, c]) => [
          new Date((t as number) + 8 * 3_600_000).toISOString().slice(0, 10),
          {
            poweredHours: Math.round((p as number) * 100) / 100,
            runningHours: Math.round((r as number) * 100) / 100,
            coverage: Math.round((c as number) * 10_000) / 10_000,
          },
        ]),
      );
      for (const d of usage.days) {
        if (d.coverage === 0) continue;
        expect(byDay.get(d.date), `${id} ${d.date}`).toEqual({
          poweredHours: d.poweredHours,
          runningHours: d.runningHours,
          coverage: d.coverage,
        });
      }
      expect(
        usage.days.some((d) => d.poweredHours > 0),
        id,
      ).toBe(true);
    }

    // state intervals: the NMR ran 08:00–12:00, was off (one sample: evidence for 5 min), then
    // nothing (unknown) until 13:00, idle until 18:00, running until 02:00
    const nmrStates = await influxd.query(
      `SELECT state, duration_s FROM state WHERE instrument = '${NMR}'`,
      'dayi',
    );
    expect(nmrStates[0]!.values.slice(0, 5)).toEqual([
      [at(dayA, '08:00'), 'running', 4 * 3600],
      [at(dayA, '12:00'), 'off', 5 * 60],
      [at(dayA, '12:05'), 'unknown', 55 * 60],
      [at(dayA, '13:00'), 'idle', 5 * 3600],
      [at(dayA, '18:00'), 'running', 8 * 3600],
    ]);
    const m = await metric(collector.baseUrl, 'dayi_influx_lines_total');
    expect(m.join('\n')).toMatch(/measurement="telemetry"\} [1-9]/);
    const health = await getJson<{ influx: { status: string; lagMessages: number } }>(
      collector.baseUrl,
      '/healthz',
    );
    expect(health.influx).toMatchObject({ status: 'ok', lagMessages: 0 });
  });

  it('loses nothing while influxd is down for 20 s, and catches up in order', async () => {
    await influxd.stop();
    const start = Date.now();
    let seq = 10_000;
    const base = at(daysAgo(3), '08:00');
    let sawFailing = false;
    // data keeps flowing while InfluxDB is down: ingest is not held up by it
    while (Date.now() - start < 20_000) {
      const batch: Message[] = [];
      for (let i = 0; i < 50; i++) {
        const s = seq++;
        batch.push({
          topic: `dayi/v1/${s % 2 ? NMR : SEM}/telemetry`,
          payload: JSON.stringify({
            ts: base + s * 1000,
            seq: s,
            metrics: { power_w: 450 + (s % 7) },
            state: 'running',
          }),
        });
      }
      await publishAll(client, batch);
      const h = await getJson<{ status: string; influx: { status: string } }>(collector.baseUrl, '/healthz');
      expect(h.status).toBe('ok');
      if (h.influx.status === 'failing') sawFailing = true;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(sawFailing).toBe(true);
    const failures = await metric(collector.baseUrl, 'dayi_influx_write_failures_total');
    expect(failures.length).toBeGreaterThan(0);
    const lag = await metric(collector.baseUrl, 'dayi_influx_lag_rows{stream="messages"}');
    expect(Number(lag[0]!.split(' ')[1])).toBeGreaterThan(0);
    await influxd.start();
    await collector.app.dayi.ctx.exports!.influx!.flush(60_000);
    expect(await influxCounts(influxd)).toEqual(ledgerTelemetry(dbPath()));
    await waitFor(
      'healthz influx ok',
      () => getJson<{ influx: { status: string } }>(collector.baseUrl, '/healthz'),
      (h) => h.influx.status === 'ok',
    );
  });
});
