/**
 * bench/api: latency of `GET /v1/utilization` and `GET /v1/instruments/{id}/usage` over a seeded
 * ledger of 16,000 instruments × 365 days, through real HTTP on loopback. The derived tables are
 * seeded directly (instruments, instrument_status, daily_usage; the monthly rollups follow through
 * the migration's triggers, as in production), with a realistic mix: busy and quiet instruments,
 * weekday patterns, 5 % idle for months, 3 % never reported, partial coverage.
 *
 * Baselines in the same run: `GET /healthz` (the HTTP floor) and the same utilisation figures
 * computed the direct way, one GROUP BY over the year of daily_usage rows.
 *
 * Usage: npm run bench -- api [--instruments 16000] [--days 365] [--requests 200] [--fresh]
 * The seeded store is kept in bench/tmp/ and reused while its parameters match (--fresh rebuilds).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '../collector/src/app.ts';
import { addDays, dateOf, dayBounds } from '../collector/src/derive/pure/calendar.ts';
import { FLEET_ROLLUP_BACKFILL, MIGRATIONS } from '../collector/src/store/migrations.ts';
import { openDatabase } from '../collector/src/store/sqlite.ts';

const { values } = parseArgs({
  options: {
    instruments: { type: 'string', default: '16000' },
    days: { type: 'string', default: '365' },
    requests: { type: 'string', default: '200' },
    fresh: { type: 'boolean', default: false },
  },
});
const INSTRUMENTS = Number(values.instruments);
const DAYS = Number(values.days);
const REQUESTS = Number(values.requests);
const TZ = 'Asia/Shanghai';
// A fixed "now" (noon), so that the seeded store can be reused from run to run.
const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const TODAY = dateOf(NOW, TZ);
const YESTERDAY = addDays(TODAY, -1);
const FIRST = addDays(TODAY, -DAYS);
const H = 3_600_000;

/** Deterministic PRNG (mulberry32): the same store every time. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const CATEGORIES = [
  'NMR',
  'MS',
  'SEM',
  'TEM',
  'XRD',
  'GC',
  'HPLC',
  'ICP',
  'FTIR',
  'Raman',
  'AFM',
  'CT',
  'DSC',
  'TGA',
  'EPR',
  'Confocal',
  'FlowCyto',
  'Sequencer',
  'XPS',
  'Laser',
];

function seed(file: string): { seconds: number; rows: number } {
  const started = performance.now();
  const db = openDatabase(file, { sync: 'normal' });
  const r = rng(42);
  const orgs = Array.from({ length: 120 }, (_, i) => `Org ${String(i + 1).padStart(3, '0')}`);
  const insInstrument = db.prepare(
    'INSERT INTO instruments (id, name, org, category, quota_hours, idle_days, thresholds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, 0)',
  );
  const insStatus = db.prepare(
    `INSERT INTO instrument_status (instrument_id, first_seen, last_seen, last_received_at, last_powered_at, last_running_at, online)
       VALUES (?, ?, ?, ?, ?, ?, 1)`,
  );
  const insDay = db.prepare(
    `INSERT INTO daily_usage (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // Bulk load as a migrated store would be: rows first, then the rollups built by migrations 7
  // and 11's own backfill statements, then their triggers back (one trigger per row would
  // triple the seeding time and give the same tables).
  const triggers = db
    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'daily_usage'")
    .all() as { name: string; sql: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  const dates: { date: string; start: number; end: number; weekday: number }[] = [];
  for (let d = FIRST; d <= YESTERDAY; d = addDays(d, 1)) {
    const { start, end } = dayBounds(d, TZ);
    dates.push({ date: d, start, end, weekday: new Date(`${d}T00:00:00Z`).getUTCDay() });
  }
  let rows = 0;
  db.exec('BEGIN');
  for (let i = 0; i < INSTRUMENTS; i++) {
    const category = CATEGORIES[Math.floor(r() ** 1.5 * CATEGORIES.length)]!;
    const org = orgs[Math.floor(r() ** 2 * orgs.length)]!;
    const id = `ZJ-${category}-${String(i).padStart(5, '0')}`;
    insInstrument.run(id, `${category} #${i}`, org, category, r() < 0.2 ? 800 : 1400);
    const kind = r();
    if (kind < 0.03) continue; // never reported: registered only
    // 5 % idle: powered last 100 to 300 days ago; the rest active with their own intensity.
    const idleSince = kind < 0.08 ? DAYS - 100 - Math.floor(r() * 200) : DAYS;
    const busy = 0.2 + 0.7 * r();
    const weekend = r() < 0.3;
    const coverage = r() < 0.9 ? 1 : 0.6 + 0.4 * r();
    let lastPowered: number | null = null;
    let lastRunning: number | null = null;
    dates.forEach((d, n) => {
      const dayMs = d.end - d.start;
      const workday = weekend || (d.weekday !== 0 && d.weekday !== 6);
      let powered = 0;
      let running = 0;
      if (n < idleSince && workday && r() < 0.5 + 0.5 * busy) {
        powered = Math.round((4 + 16 * busy * r()) * H);
        running = Math.round(powered * (0.3 + 0.6 * r()));
        lastPowered = d.start + powered;
        if (running > 0) lastRunning = d.start + running;
      }
      const covered = Math.max(powered, Math.round(dayMs * coverage));
      insDay.run(id, d.date, powered, running, covered, dayMs, d.end + H);
      rows++;
    });
    const firstSeen = dates[0]!.start;
    const lastSeen = dates[dates.length - 1]!.end - 60_000;
    insStatus.run(id, firstSeen, lastSeen, lastSeen, lastPowered, lastRunning);
  }
  const put = db.prepare('INSERT OR REPLACE INTO derive_settings (key, value) VALUES (?, ?)');
  put.run('timezone', TZ);
  put.run('offlineAfter', String(5 * 60_000));
  const m7 = MIGRATIONS.find((m) => m.version === 7)!.sql;
  for (const backfill of m7.match(/INSERT INTO usage_month(?:_cum)? \([^;]*FROM daily_usage[^;]*;/g) ?? [])
    db.exec(backfill);
  db.exec(FLEET_ROLLUP_BACKFILL);
  for (const t of triggers) db.exec(t.sql);
  db.exec('COMMIT');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.exec('ANALYZE');
  db.close();
  return { seconds: Math.round((performance.now() - started) / 100) / 10, rows };
}

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! * 10) / 10;
  return { requests: s.length, median: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
}

async function measure(base: string, key: string, urls: () => string, n: number) {
  process.stderr.write(`bench/api: ${n} × ${urls()}\n`);
  const headers = { authorization: `Bearer ${key}` };
  for (let i = 0; i < Math.min(5, n); i++) await (await fetch(`${base}${urls()}`, { headers })).arrayBuffer();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}${urls()}`, { headers });
    const body = await res.arrayBuffer();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`${urls()}: HTTP ${res.status} ${Buffer.from(body).toString()}`);
    bytes = body.byteLength;
  }
  const cpu = process.cpuUsage(cpu0);
  process.stderr.write(`bench/api:   median ${stats(times).median} ms, p95 ${stats(times).p95} ms\n`);
  return {
    ...stats(times),
    cpuMsPerRequest: Math.round(((cpu.user + cpu.system) / 1000 / n) * 10) / 10,
    answerBytes: bytes,
  };
}

const dir = new URL('./tmp/', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const file = join(dir, `api-${INSTRUMENTS}x${DAYS}-v5.sqlite`);
let seeded: { seconds: number; rows: number } | null = null;
if (values.fresh || !existsSync(file)) {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  seeded = seed(file);
}

const KEY = 'bench-api-key-0123456789abcdef';
const app = await build(
  {
    // the bench measures the routes, one key asking thousands of times a minute: no rate limit
    http: { host: '127.0.0.1', port: 0, rateLimit: { enabled: false } },
    mqtt: { host: '127.0.0.1', port: 0 },
    store: { sqlite: file, sync: 'normal' },
    timezone: TZ,
    offlineAfter: '5m',
    apiKeys: [{ name: 'bench', key: KEY, role: 'platform' }],
    log: { level: 'warn' },
  },
  { logger: false, now: () => NOW },
);
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as { port: number };
const base = `http://127.0.0.1:${port}`;
const ids = (app.dayi.ctx.db.prepare('SELECT id FROM instruments ORDER BY id').all() as { id: string }[]).map(
  (r) => r.id,
);
const pick = rng(7);
const randomId = () => ids[Math.floor(pick() * ids.length)]!;
const from = addDays(TODAY, -DAYS);

const healthz = await measure(base, KEY, () => '/healthz', REQUESTS);
const utilizationOrg = await measure(
  base,
  KEY,
  () => `/v1/utilization?from=${from}&to=${YESTERDAY}&groupBy=org`,
  REQUESTS,
);
const utilizationInstrument = await measure(
  base,
  KEY,
  () => `/v1/utilization?from=${from}&to=${YESTERDAY}&groupBy=instrument`,
  Math.min(REQUESTS, Math.max(20, Math.round(REQUESTS / 4))),
);
const utilizationToToday = await measure(
  base,
  KEY,
  () => `/v1/utilization?from=${addDays(TODAY, -(DAYS - 1))}&to=${TODAY}&groupBy=category`,
  Math.min(REQUESTS, Math.max(10, Math.round(REQUESTS / 10))),
);
const usage = await measure(
  base,
  KEY,
  () => `/v1/instruments/${randomId()}/usage?from=${from}&to=${YESTERDAY}`,
  REQUESTS,
);
const idleTrend = await measure(
  base,
  KEY,
  () => `/v1/kpi/idle-trend?from=${from}&to=${YESTERDAY}&groupBy=org`,
  Math.min(REQUESTS, 5),
);

// Baseline: the same per-instrument sums the direct way, one GROUP BY over the year of rows.
const direct: number[] = [];
const stmt = app.dayi.ctx.db.prepare(
  `SELECT instrument_id, SUM(powered_ms), SUM(running_ms), SUM(covered_ms) FROM daily_usage
     WHERE date >= ? AND date <= ? GROUP BY instrument_id`,
);
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  stmt.all(from, YESTERDAY);
  direct.push(performance.now() - t0);
}
await app.close();

process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'api',
      node: process.version,
      instruments: INSTRUMENTS,
      days: DAYS,
      dailyRows: seeded?.rows ?? null,
      seedSeconds: seeded?.seconds ?? null,
      period: { from, to: YESTERDAY },
      latencyMs: {
        healthz,
        utilizationOrg,
        utilizationInstrument,
        utilizationToTodayByCategory: utilizationToToday,
        usage365: usage,
        idleTrend52Weeks: idleTrend,
      },
      baselineDirectGroupByMs: stats(direct),
      ratioDirectToRollupMedian: Math.round((stats(direct).median / utilizationOrg.median) * 10) / 10,
    },
    null,
    2,
  )}\n`,
);
