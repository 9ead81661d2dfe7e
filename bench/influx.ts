/**
 * bench/influx: lines/s the collector's InfluxDB shipper delivers from a SQLite ledger, against the
 * raw `/write` throughput of the same influxd in the same run (pre-built line protocol in batches of
 * 5,000, one request in flight, as the shipper sends). Goal: shipper ≥ 0.8 × raw.
 * Each round: a fresh database for each side; the shipper runs from a fresh high-water mark on the
 * same ledger and is timed until every row is in InfluxDB.
 * Usage: npm run bench -- influx [--messages N] [--instruments N] [--rounds N] [--gzip false]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { build } from '../collector/src/app.ts';
import { parseCollectorConfig } from '../collector/src/config.ts';
import { createInfluxClient } from '../collector/src/influx/client.ts';
import { telemetryLine } from '../collector/src/influx/lines.ts';
import { createShipper } from '../collector/src/influx/shipper.ts';
import { startInfluxd } from '../collector/test/helpers/influxd.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const T0 = Date.UTC(2026, 0, 1);
const BATCH = 5000;

function payload(i: number, instruments: number) {
  const seq = Math.floor(i / instruments);
  return {
    id: `BENCH-${String(i % instruments).padStart(4, '0')}`,
    t: {
      ts: T0 + seq * 10_000,
      seq,
      metrics: { power_w: 400 + (seq % 50), current_a: 1.8 },
      state: 'running' as const,
    },
  };
}

export async function runInfluxBench(o: {
  messages: number;
  instruments: number;
  rounds: number;
  gzip: boolean;
}) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-influx-'));
  const influxd = await startInfluxd();
  try {
    // The ledger, written once through the collector's durable ingest.
    const sqlite = join(dir, 'dayi.sqlite');
    const seed = await build(
      { mqtt: { port: 0 }, store: { sqlite }, log: { level: 'warn' }, instruments: [] },
      { logger: false },
    );
    for (let i = 0; i < o.messages; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, o.messages - i) }, (_, k) => {
          const { id, t } = payload(i + k, o.instruments);
          return seed.dayi.ingest.submit({
            topic: `dayi/v1/${id}/telemetry`,
            payload: Buffer.from(JSON.stringify(t)),
            clientId: 'bench',
            username: 'bench',
            allowedInstruments: 'all',
            receivedAt: Date.now(),
          });
        }),
      );
    }
    await seed.close();

    // The raw side's bodies: the same telemetry lines, built before the clock starts.
    const lines = Array.from({ length: o.messages }, (_, i) => {
      const { id, t } = payload(i, o.instruments);
      return telemetryLine(id, { org: null, category: null }, t);
    });
    const bodies: string[] = [];
    for (let i = 0; i < lines.length; i += BATCH) bodies.push(`${lines.slice(i, i + BATCH).join('\n')}\n`);

    const raw: number[] = [];
    const shipped: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      await influxd.query(`CREATE DATABASE raw${r}`);
      let t = process.hrtime.bigint();
      for (const body of bodies) await influxd.write(body, `raw${r}`);
      raw.push(o.messages / (Number(process.hrtime.bigint() - t) / 1e9));

      // The shipper exactly as the collector's shipper thread runs it (same module, its own
      // connection), from a fresh high-water mark into a fresh database; the collector's start-up
      // is not timed.
      const db = new DatabaseSync(sqlite);
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec("DELETE FROM export_cursors WHERE name LIKE 'influx.%'; DELETE FROM influx_state_runs");
      const config = parseCollectorConfig({
        store: { sqlite },
        influx: { url: influxd.url, database: `ship${r}`, gzip: o.gzip },
      });
      const client = createInfluxClient(config.influx!);
      await client.createDatabase();
      const shipper = createShipper({ db, config, writer: client, batchLines: BATCH });
      shipper.seedUsage();
      const cpu0 = process.cpuUsage();
      t = process.hrtime.bigint();
      let total = 0;
      for (let more = true; more; ) {
        const step = await shipper.step();
        more = step.more;
        for (const n of Object.values(step.stats.lines)) total += n ?? 0;
      }
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      const used = process.cpuUsage(cpu0);
      db.close();
      await client.close();
      const count = await influxd.query('SELECT count(seq) FROM telemetry', `ship${r}`);
      if (count[0]?.values[0]?.[1] !== o.messages)
        throw new Error(`round ${r}: ${count[0]?.values[0]?.[1]} points`);
      shipped.push(total / seconds);
      cpu.push(((used.user + used.system) / 1000 / total) * 1000);
    }
    const rawMedian = median(raw);
    const shippedMedian = median(shipped);
    return {
      bench: 'influx',
      node: process.version,
      influxd: '1.6.7 (Debian)',
      options: o,
      note: 'lines/s; raw: pre-built telemetry lines POSTed to /write in batches of 5,000, one in flight, no gzip; shipper: the shipper module of the collector on its own SQLite connection, from a fresh high-water mark until every ledger row is in InfluxDB (reading the ledger, telemetry and state lines, gzip, batches of 5,000, cursor commits); CPU: this process per 1000 lines shipped (influxd not included)',
      raw: { linesPerSecond: Math.round(rawMedian), rounds: raw.map(Math.round) },
      shipper: {
        linesPerSecond: Math.round(shippedMedian),
        rounds: shipped.map(Math.round),
        cpuMsPer1000Lines: Number(median(cpu).toFixed(1)),
      },
      ratio: { shipperVsRaw: Number((shippedMedian / rawMedian).toFixed(3)) },
    };
  } finally {
    await influxd.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '100000' },
      instruments: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      gzip: { type: 'string', default: 'true' },
    },
  });
  const result = await runInfluxBench({
    messages: Number(values.messages),
    instruments: Number(values.instruments),
    rounds: Number(values.rounds),
    gzip: values.gzip !== 'false',
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
