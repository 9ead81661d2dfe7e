/**
 * bench/ingest-core: ingest's own cost, in process, with no MQTT: telemetry of SPEC shape for 8
 * instruments through `createIngest().enqueue` into a SQLite file (store.sync normal), five rounds
 * of 40,000 messages after a warm-up. Prints CPU per 1000 messages per round and the median rate.
 * Less noisy than bench/ingest on a busy machine; `--root DIR` measures another checkout of the
 * repository (with its node_modules) in the same conditions, e.g. the commit before a change.
 * Usage: npm run bench -- ingest-core [--root DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = values.root ?? new URL('..', import.meta.url).pathname;
const { createIngest } = await import(join(root, 'collector/src/ingest/index.ts'));
const { parseCollectorConfig } = await import(join(root, 'collector/src/config.ts'));
const { openDatabase } = await import(join(root, 'collector/src/store/sqlite.ts'));
const { createMetrics } = await import(join(root, 'collector/src/metrics.ts'));
const { pino } = await import('pino');

const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-core-'));
const ids = Array.from({ length: 8 }, (_, i) => `B-${i}`);
const config = parseCollectorConfig({
  store: { sqlite: join(dir, 'dayi.sqlite') },
  agents: [{ username: 'bench', password: 'bench-password', instruments: ids }],
  log: { level: 'silent' },
});
const db = openDatabase(config.store.sqlite, {});
const ingest = createIngest({
  config,
  db,
  metrics: createMetrics(),
  log: pino({ level: 'silent' }),
  now: Date.now,
});
const allowed = new Set(ids);
const base = Date.UTC(2026, 0, 1);

async function round(r: number, perInstrument: number) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const total = perInstrument * ids.length;
  let done = 0;
  await new Promise<void>((resolve) => {
    let seq = r * perInstrument;
    const end = (r + 1) * perInstrument;
    const pump = () => {
      for (let k = 0; k < 128 && seq < end; k++, seq++) {
        for (const id of ids) {
          const payload = Buffer.from(
            JSON.stringify({
              ts: base + seq * 1000,
              seq,
              metrics: { power_w: 400 + (seq % 50), current_a: 1.8 },
              state: 'running',
            }),
          );
          ingest.enqueue(
            {
              topic: `dayi/v1/${id}/telemetry`,
              payload,
              clientId: 'bench:core',
              username: 'bench',
              allowedInstruments: allowed,
              receivedAt: Date.now(),
            },
            () => {
              if (++done === total) resolve();
            },
          );
        }
      }
      if (seq < end) setImmediate(pump);
    };
    pump();
  });
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: total / seconds, cpuMsPer1000: ((cpu.user + cpu.system) / 1000 / total) * 1000 };
}

await round(99, 500);
const rounds = [];
for (let r = 0; r < 5; r++) rounds.push(await round(r, 5000));
await ingest.close();
db.close();
rmSync(dir, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(
  `${JSON.stringify({
    bench: 'ingest-core',
    root,
    cpuMsPer1000: rounds.map((x) => Number(x.cpuMsPer1000.toFixed(2))),
    medianCpuMsPer1000: Number(median(rounds.map((x) => x.cpuMsPer1000)).toFixed(2)),
    medianMessagesPerSecond: Math.round(median(rounds.map((x) => x.perSecond))),
  })}\n`,
);
