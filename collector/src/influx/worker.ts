/**
 * The InfluxDB shipper's thread (see index.ts): its own SQLite connection, reading what ingest
 * committed, and its own event loop for HTTP, gzip and retries, so the ingest thread never waits
 * for InfluxDB. Messages to the parent: `status` (after every attempt and every second), `log`
 * (the parent logs with its redaction), `flushed`, `closed`.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CollectorConfig } from '../config.ts';
import { createInfluxClient, InfluxWriteError, retryDelay } from './client.ts';
import type { Measurement } from './lines.ts';
import { createShipper, type Lag } from './shipper.ts';

export interface InfluxWorkerData {
  path: string;
  config: CollectorConfig;
}

export interface InfluxWorkerStatus {
  /** Totals since start. */
  lines: Partial<Record<Measurement, number>>;
  rejectedLines: number;
  lateObservations: number;
  failures: Record<string, number>;
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  nextAttemptAt: number | null;
  lag: Lag;
}

export type InfluxWorkerMessage =
  | { type: 'status'; status: InfluxWorkerStatus }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; obj: object; msg: string }
  | { type: 'flushed'; id: number }
  | { type: 'closed' };

const data = workerData as InfluxWorkerData;
const port = parentPort;
if (!port) throw new Error('influx/worker.ts runs as a worker thread');
const influx = data.config.influx;
if (!influx) throw new Error('influx/worker.ts needs config.influx');

const post = (m: InfluxWorkerMessage) => port.postMessage(m);
const log = {
  info: (obj: object, msg: string) => post({ type: 'log', level: 'info', obj, msg }),
  warn: (obj: object, msg: string) => post({ type: 'log', level: 'warn', obj, msg }),
  error: (obj: object, msg: string) => post({ type: 'log', level: 'error', obj, msg }),
};

const db = new DatabaseSync(data.path);
db.exec('PRAGMA busy_timeout = 5000');
db.exec(`PRAGMA synchronous = ${data.config.store.sync === 'full' ? 'FULL' : 'NORMAL'}`);
const stopped = new AbortController();
const client = createInfluxClient(influx, { signal: stopped.signal });
const shipper = createShipper({
  db,
  config: data.config,
  writer: client,
  batchLines: influx.batchLines,
  log,
  yieldIf: () => ingestPerSecond > DEFER_ABOVE_PER_S && flushes.length === 0,
});

const status: InfluxWorkerStatus = {
  lines: {},
  rejectedLines: 0,
  lateObservations: 0,
  failures: {},
  consecutiveFailures: 0,
  lastSuccessAt: null,
  lastError: null,
  lastErrorAt: null,
  nextAttemptAt: null,
  lag: { messages: 0, usage: 0, alerts: 0, seconds: 0 },
};

/**
 * While ingest commits more than this many messages a second, the shipper steps aside (a burst,
 * a fleet replaying its outboxes): on a small machine its CPU would come out of ingest's. It waits
 * at most MAX_DEFER_MS in a row, then ships a round anyway, so the lag stays bounded.
 */
export const DEFER_ABOVE_PER_S = 5000;
export const MAX_DEFER_MS = 30_000;

let stopping = false;
let ingestPerSecond = 0;
let wake: (() => void) | null = null;
const flushes: number[] = [];

function sleep(ms: number): Promise<void> {
  if (stopping) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wake = null;
      resolve();
    }
    wake = done;
  });
}

function publish(): void {
  try {
    status.lag = shipper.lag();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'InfluxDB shipper: could not read its lag');
  }
  post({ type: 'status', status });
}

async function createDatabase(): Promise<void> {
  try {
    await client.createDatabase();
  } catch (err) {
    log.warn({ err: (err as Error).message }, `InfluxDB: CREATE DATABASE ${influx!.database} failed`);
  }
}

async function run(): Promise<void> {
  shipper.seedUsage();
  if (influx!.createDatabase && influx!.api === 'v1') await createDatabase();
  const statusTimer = setInterval(publish, 1000);
  let deferredSince: number | null = null;
  while (!stopping) {
    if (ingestPerSecond > DEFER_ABOVE_PER_S && flushes.length === 0) {
      deferredSince ??= Date.now();
      if (Date.now() - deferredSince < MAX_DEFER_MS) {
        await sleep(200);
        continue;
      }
    }
    deferredSince = null;
    let more = false;
    try {
      const r = await shipper.step();
      more = r.more;
      for (const [m, n] of Object.entries(r.stats.lines) as [Measurement, number][]) {
        status.lines[m] = (status.lines[m] ?? 0) + n;
      }
      status.rejectedLines += r.stats.rejected;
      status.lateObservations += r.stats.lateObservations;
      if (status.consecutiveFailures > 0) log.info({}, 'InfluxDB reachable again: shipping resumes');
      status.consecutiveFailures = 0;
      status.lastSuccessAt = Date.now();
      status.nextAttemptAt = null;
    } catch (err) {
      if (stopping) break;
      status.consecutiveFailures++;
      const reason = err instanceof InfluxWriteError ? err.reason : 'error';
      status.failures[reason] = (status.failures[reason] ?? 0) + 1;
      status.lastError = (err as Error).message;
      status.lastErrorAt = Date.now();
      const delay = retryDelay(err, status.consecutiveFailures, influx!.maxRetryDelay);
      status.nextAttemptAt = Date.now() + delay;
      // One line when it starts failing, then one a minute at most: an hour's outage is not a flood.
      if (status.consecutiveFailures === 1 || status.consecutiveFailures % 60 === 0) {
        log.warn(
          { err: status.lastError, failures: status.consecutiveFailures, retryInMs: delay },
          'InfluxDB write failed; nothing is lost, the shipper retries from its high-water mark',
        );
      }
      publish();
      if (
        err instanceof InfluxWriteError &&
        err.status === 404 &&
        influx!.createDatabase &&
        influx!.api === 'v1'
      ) {
        await createDatabase();
      }
      if (!(err instanceof InfluxWriteError)) {
        log.error({ err: (err as Error).stack ?? String(err) }, 'InfluxDB shipper failed');
      }
      await sleep(delay);
      continue;
    }
    if (!more) {
      publish();
      if (
        flushes.length > 0 &&
        status.lag.messages === 0 &&
        status.lag.usage === 0 &&
        status.lag.alerts === 0
      ) {
        for (const id of flushes.splice(0)) post({ type: 'flushed', id });
        continue;
      }
      await sleep(flushes.length > 0 ? 20 : influx!.flushEvery);
    }
  }
  clearInterval(statusTimer);
}

port.on('message', (msg: { type?: string; id?: number }) => {
  if (msg?.type === 'stop') {
    stopping = true;
    stopped.abort();
    wake?.();
  } else if (msg?.type === 'flush' && typeof msg.id === 'number') {
    flushes.push(msg.id);
    wake?.();
  } else if (msg?.type === 'wake') {
    wake?.();
  } else if (msg?.type === 'load') {
    ingestPerSecond = (msg as { perSecond?: number }).perSecond ?? 0;
  }
});

run()
  .catch((err) => log.error({ err: (err as Error).stack ?? String(err) }, 'InfluxDB shipper stopped'))
  .finally(async () => {
    await client.close().catch(() => {});
    if (db.isOpen) db.close();
    post({ type: 'closed' });
    port.close();
  });
