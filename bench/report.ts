/**
 * bench/report: the yearly uptime report for a large fleet (default 16,000 instruments × 365 days),
 * in each format, end to end as the route makes it (facts from the store, layout, render, sign,
 * record). The derived tables are seeded directly (no MQTT): a year of daily_usage per instrument,
 * some idle, some never reported. daily_usage is clustered on (instrument, date) (migration 6), so
 * the order the seed inserts in does not change how the report reads it; the seed goes instrument
 * by instrument because that is fast. Baselines measured in the same run on the same store:
 *   - sqlSum: one SQL SUM … GROUP BY over the same daily_usage rows, the floor of reading the data;
 *   - usagePerInstrument: getUsage() (the /usage route's code) for a sample, scaled to the fleet.
 * Prints one JSON object. Usage: npm run bench -- report [--instruments N] [--rounds N] [--formats csv,xlsx,pdf]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseCollectorConfig } from '../collector/src/config.ts';
import type { CollectorContext } from '../collector/src/context.ts';
import { createMetrics } from '../collector/src/metrics.ts';
import { getUsage } from '../collector/src/query/index.ts';
import { makeUptimeReport, type ReportFormat } from '../collector/src/reports/index.ts';
import { openDatabase } from '../collector/src/store/sqlite.ts';

const { values } = parseArgs({
  options: {
    instruments: { type: 'string', default: '16000' },
    rounds: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'csv,xlsx,pdf' },
    sample: { type: 'string', default: '200' },
  },
});
const N = Number(values.instruments);
const ROUNDS = Number(values.rounds);
const FORMATS = values.formats!.split(',') as ReportFormat[];
const YEAR = { from: '2025-01-01', to: '2025-12-31', days: 365 };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};
const peakRss = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

const loadBefore = loadavg()[0]!;
const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-report-'));
try {
  const config = parseCollectorConfig({
    store: { sqlite: join(dir, 'dayi.sqlite') },
    timezone: 'Asia/Shanghai',
  });
  const db = openDatabase(config.store.sqlite);
  const ctx: CollectorContext = {
    config,
    db,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    now: Date.now,
  };

  // Seed: instruments n = 0..N-1 in 40 orgs; n % 20 == 0 never reported (no rows); n % 10 == 1 idle
  // since mid-September (off, but reporting); the rest use a pseudo-random share of each day.
  const seedStart = performance.now();
  const dayMs = 86_400_000;
  const yearStart = Date.parse('2025-01-01T00:00:00+08:00');
  db.exec('BEGIN');
  db.exec(`
WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < ${N})
INSERT INTO instruments (id, name, org, category, quota_hours, created_at, updated_at)
SELECT printf('ZJ-%05d', k), '大型仪器 ' || k || ' 号',
       CASE k % 40 WHEN 0 THEN '浙江大学' WHEN 1 THEN '浙江工业大学' WHEN 2 THEN '中国科学院宁波材料技术与工程研究所'
         ELSE '单位 ' || (k % 40) END,
       CASE k % 4 WHEN 0 THEN '核磁共振' WHEN 1 THEN '质谱' WHEN 2 THEN '电镜' ELSE 'X 射线' END,
       CASE k % 3 WHEN 0 THEN 800 ELSE 1400 END, 0, 0
  FROM n;
WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < ${N}),
     d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i + 1 < ${YEAR.days})
INSERT INTO daily_usage (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at)
SELECT printf('ZJ-%05d', k), date('${YEAR.from}', '+' || i || ' days'),
       CASE WHEN k % 10 = 1 AND i >= 255 THEN 0 ELSE ((k * 7919 + i * 104729) % 36000) * 1000 END,
       CASE WHEN k % 10 = 1 AND i >= 255 THEN 0 ELSE ((k * 7919 + i * 104729) % 36000) * 700 END,
       ${dayMs} - ((k + i) % 97) * 60000, ${dayMs}, ${Date.now()}
  FROM n CROSS JOIN d WHERE k % 20 <> 0;
WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < ${N})
INSERT INTO instrument_status (instrument_id, first_seen, last_seen, last_powered_at)
SELECT printf('ZJ-%05d', k), ${yearStart}, ${yearStart + 365 * dayMs - 60_000},
       CASE WHEN k % 10 = 1 THEN ${yearStart + 255 * dayMs - 3_600_000} ELSE ${yearStart + 365 * dayMs - 3_600_000} END
  FROM n WHERE k % 20 <> 0;
`);
  db.exec('COMMIT');
  const rows = (db.prepare('SELECT COUNT(*) AS n FROM daily_usage').get() as { n: number }).n;
  const seedMs = performance.now() - seedStart;

  // Baselines.
  const sqlSum: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    db.prepare(
      `SELECT instrument_id, SUM(powered_ms), SUM(running_ms), SUM(covered_ms), SUM(span_ms) FROM daily_usage
        WHERE date >= ? AND date <= ? GROUP BY instrument_id`,
    ).all(YEAR.from, YEAR.to);
    sqlSum.push(performance.now() - t);
  }
  const sample = Math.min(N, Number(values.sample));
  const t0 = performance.now();
  for (let k = 0; k < sample; k++) {
    getUsage(ctx, `ZJ-${String(Math.floor((k * N) / sample)).padStart(5, '0')}`, YEAR.from, YEAR.to);
  }
  const usagePerInstrumentMs = ((performance.now() - t0) / sample) * N;

  const formats: Record<string, unknown> = {};
  for (const format of FORMATS) {
    const times: number[] = [];
    const cpu: number[] = [];
    // The longest the event loop was held (ms) while the report was made: what an MQTT
    // acknowledgement or an HTTP answer would have waited at worst.
    const blocked: number[] = [];
    let bytes = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const c0 = process.cpuUsage();
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const t = performance.now();
      const report = await makeUptimeReport(ctx, { ...YEAR, format, lang: 'zh-CN' });
      times.push(performance.now() - t);
      loop.disable();
      blocked.push(loop.max / 1e6);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      bytes = report.bytes.length;
      if (report.report.rows.length !== N)
        throw new Error(`report has ${report.report.rows.length} rows, not ${N}`);
    }
    formats[format] = {
      medianMs: Math.round(median(times)),
      roundsMs: times.map(Math.round),
      cpuMs: Math.round(median(cpu)),
      maxEventLoopBlockMs: Math.round(median(blocked)),
      bytes,
      ratioToSqlSum: Math.round((median(times) / median(sqlSum)) * 10) / 10,
      underTenSeconds: median(times) < 10_000,
    };
  }
  db.close();
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'report',
        instruments: N,
        period: `${YEAR.from}..${YEAR.to}`,
        dailyUsageRows: rows,
        seedMs: Math.round(seedMs),
        baseline: {
          sqlSumMs: Math.round(median(sqlSum)),
          usagePerInstrumentMs: Math.round(usagePerInstrumentMs),
          usagePerInstrumentSample: sample,
        },
        formats,
        peakRssBytes: peakRss(),
        // The machine's 1-minute load average before and after: on a shared 2-core machine, wall
        // times grow with it while CPU times do not.
        loadAverage: [Math.round(loadBefore * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
        node: process.version,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
