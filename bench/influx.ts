/**
 * bench/influx: lines/s the collector's InfluxDB shipper delivers from a SQLite ledger, against the
 * raw `/write` throughput of the same influxd in the same run. Goal: shipper ≥ 0.8 × raw.
 *
 * Fair and exact by construction:
 * - the raw side POSTs exactly the lines the shipper sends (captured from a dry run of the shipper
 *   on the same ledger: same measurements, tags, fields, ns precision, same batches), pre-built
 *   as request bodies before the clock starts, uncompressed, one request in flight, with the same
 *   HTTP client (fetch) the shipper uses;
 * - the shipper is the collector's shipper module (the code its shipper thread runs) on its own
 *   SQLite connection, from a fresh high-water mark, timed until every ledger row is in InfluxDB;
 * - each round writes both sides into fresh databases of the same influxd, alternating which side
 *   goes first, and checks afterwards that both hold the same points (`SELECT count(*)` of
 *   `telemetry` and `state` equal, and one `telemetry` point per ledger message).
 * Reported: median lines/s over the rounds and their ratio; CPU per 1000 lines of this process
 * (the client side) and of influxd (from /proc), per side; the load average before and after.
 *
 * Usage: npm run bench -- influx [--messages N] [--instruments N] [--rounds N]
 *        [--gzip false|true|1..9] [--batch N]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { build } from '../collector/src/app.ts';
import { parseCollectorConfig } from '../collector/src/config.ts';
import { createInfluxClient } from '../collector/src/influx/client.ts';
import { createShipper } from '../collector/src/influx/shipper.ts';
import { type Influxd, startInfluxd } from '../collector/test/helpers/influxd.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const T0 = Date.UTC(2026, 0, 1);

function payload(i: number, instruments: number) {
  const seq = Math.floor(i / instruments);
  return {
    id: `BENCH-${String(i % instruments).padStart(4, '0')}`,
    t: {
      ts: T0 + seq * 10_000,
      seq,
      metrics: { power_w: 400 + (seq % 50) + (i % 7) / 10, current_a: 1.8 },
      state: 'running' as const,
    },
  };
}

/** CPU time (user + system) of a process, ms, from /proc (Linux; clock ticks of 10 ms). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Side {
  linesPerSecond: number;
  clientCpuMsPer1000: number;
  influxdCpuMsPer1000: number;
}

async function measure(influxd: Influxd, lines: number, run: () => Promise<void>): Promise<Side> {
  const client0 = selfCpuMs();
  const server0 = processCpuMs(influxd.pid());
  const t = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return {
    linesPerSecond: lines / seconds,
    clientCpuMsPer1000: ((selfCpuMs() - client0) / lines) * 1000,
    influxdCpuMsPer1000: ((processCpuMs(influxd.pid()) - server0) / lines) * 1000,
  };
}

/** `SELECT count(*)` of both measurements the ledger feeds, as comparable JSON. */
async function counts(influxd: Influxd, db: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const m of ['telemetry', 'state']) {
    const s = await influxd.query(`SELECT count(*) FROM "${m}"`, db);
    const row = s[0];
    out[m] = row ? Object.fromEntries(row.columns.slice(1).map((c, i) => [c, row.values[0]![i + 1]])) : {};
  }
  return out;
}

export async function runInfluxBench(o: {
  messages: number;
  instruments: number;
  rounds: number;
  /** Absent: the collector's default. */
  gzip?: boolean | number;
  batch?: number;
}) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-influx-'));
  const influxd = await startInfluxd();
  const loadBefore = loadavg().map((x) => Number(x.toFixed(2)));
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

    const configFor = (database: string) =>
      parseCollectorConfig({
        store: { sqlite },
        influx: { url: influxd.url, database, ...(o.gzip === undefined ? {} : { gzip: o.gzip }) },
      });
    const defaults = configFor('x').influx!;
    const batchLines = o.batch ?? defaults.batchLines;

    /** A shipper from a fresh high-water mark (the collector's start-up is not timed). */
    function freshShipper(database: string, writer: Parameters<typeof createShipper>[0]['writer']) {
      // The connection as the shipper thread opens it (worker.ts).
      const config = configFor(database);
      const db = new DatabaseSync(sqlite);
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec(`PRAGMA synchronous = ${config.store.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      db.exec("DELETE FROM export_cursors WHERE name LIKE 'influx.%'; DELETE FROM influx_state_runs");
      const shipper = createShipper({ db, config, writer, batchLines });
      shipper.seedUsage();
      return {
        async drain(): Promise<number> {
          let total = 0;
          for (let more = true; more; ) {
            const step = await shipper.step();
            more = step.more;
            for (const n of Object.values(step.stats.lines)) total += n ?? 0;
          }
          return total;
        },
        close: () => db.close(),
      };
    }

    // The lines the shipper sends, in its batches: a dry run with a writer that keeps them. Its
    // time is the shipper's own cost without any network (reading, encoding, cursor commits).
    const bodies: Buffer[] = [];
    const dry = freshShipper('dry', {
      async write(lines) {
        bodies.push(Buffer.from(lines.text));
      },
    });
    const dryCpu0 = selfCpuMs();
    const dryT0 = process.hrtime.bigint();
    const total = await dry.drain();
    const dryRun = {
      linesPerSecond: Math.round(total / (Number(process.hrtime.bigint() - dryT0) / 1e9)),
      clientCpuMsPer1000Lines: Number((((selfCpuMs() - dryCpu0) / total) * 1000).toFixed(2)),
    };
    dry.close();

    async function rawRound(database: string): Promise<void> {
      for (const body of bodies) {
        const r = await fetch(`${influxd.url}/write?db=${database}&precision=ns`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          body,
        });
        if (r.status !== 204) throw new Error(`raw /write ${r.status}: ${await r.text()}`);
      }
    }

    async function shipperRound(database: string): Promise<void> {
      const client = createInfluxClient(configFor(database).influx!);
      await client.createDatabase();
      const s = freshShipper(database, client);
      try {
        const n = await s.drain();
        if (n !== total) throw new Error(`the shipper sent ${n} lines, the dry run ${total}`);
      } finally {
        s.close();
        await client.close();
      }
    }

    const raw: Side[] = [];
    const shipped: Side[] = [];
    for (let r = 0; r < o.rounds; r++) {
      await influxd.query(`CREATE DATABASE raw${r}`);
      // Alternate which side goes first, so that neither always meets a warmer server.
      const sides = [
        async () => raw.push(await measure(influxd, total, () => rawRound(`raw${r}`))),
        async () => shipped.push(await measure(influxd, total, () => shipperRound(`ship${r}`))),
      ];
      if (r % 2) sides.reverse();
      for (const side of sides) await side();
      const a = await counts(influxd, `raw${r}`);
      const b = await counts(influxd, `ship${r}`);
      if (JSON.stringify(a) !== JSON.stringify(b))
        throw new Error(`round ${r}: raw ${JSON.stringify(a)} ≠ shipper ${JSON.stringify(b)}`);
      const telemetry = (b.telemetry as Record<string, number>).count_seq;
      if (telemetry !== o.messages) throw new Error(`round ${r}: ${telemetry} telemetry points`);
      await influxd.query(`DROP DATABASE raw${r}`);
      await influxd.query(`DROP DATABASE ship${r}`);
    }

    const summary = (xs: Side[]) => ({
      linesPerSecond: Math.round(median(xs.map((x) => x.linesPerSecond))),
      rounds: xs.map((x) => Math.round(x.linesPerSecond)),
      clientCpuMsPer1000Lines: Number(median(xs.map((x) => x.clientCpuMsPer1000)).toFixed(2)),
      influxdCpuMsPer1000Lines: Number(median(xs.map((x) => x.influxdCpuMsPer1000)).toFixed(1)),
    });
    const rawSummary = summary(raw);
    const shipperSummary = summary(shipped);
    return {
      bench: 'influx',
      node: process.version,
      influxd: '1.6.7 (Debian)',
      cpus: cpus().length,
      loadAverage: { before: loadBefore, after: loadavg().map((x) => Number(x.toFixed(2))) },
      options: { ...o, gzip: defaults.gzip, batch: batchLines },
      lines: { perRound: total, requestsPerRound: bodies.length, telemetry: o.messages },
      note: "lines/s, median of the rounds. raw: the very lines the shipper sends (captured from a dry run, same batches), pre-built, POSTed to /write uncompressed, one request in flight; shipper: the collector's shipper module from a fresh high-water mark until every ledger row is in InfluxDB (ledger read, parse, line protocol, state intervals, body encoding, cursor commits); both sides into fresh databases of the same influxd, point counts checked equal each round. CPU per 1000 lines: this process (client) and influxd (server). dryRun: the shipper with a writer that only keeps the lines (its cost without the network)",
      raw: rawSummary,
      shipper: shipperSummary,
      dryRun,
      ratio: { shipperVsRaw: Number((shipperSummary.linesPerSecond / rawSummary.linesPerSecond).toFixed(3)) },
    };
  } finally {
    await influxd.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function gzipOption(v: string): boolean | number {
  if (v === 'true') return true;
  if (v === 'false') return false;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new Error(`--gzip: true, false or a level 1..9, not ${v}`);
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '100000' },
      instruments: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      gzip: { type: 'string' },
      batch: { type: 'string' },
    },
  });
  const result = await runInfluxBench({
    messages: Number(values.messages),
    instruments: Number(values.instruments),
    rounds: Number(values.rounds),
    ...(values.gzip ? { gzip: gzipOption(values.gzip) } : {}),
    ...(values.batch ? { batch: Number(values.batch) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
