/**
 * The collector's InfluxDB export, main-thread side: starts the shipper thread (worker.ts), turns
 * its status into Prometheus metrics and the `influx` part of `/healthz`, and stops it on close.
 */
import { Worker } from 'node:worker_threads';
import { Counter, Gauge } from 'prom-client';
import type { CollectorContext } from '../context.ts';
import type { Ingest } from '../ingest/index.ts';
import { MEASUREMENTS } from './lines.ts';
import type { InfluxWorkerData, InfluxWorkerMessage, InfluxWorkerStatus } from './worker.ts';

/** The shipper is `lagging` when its oldest unshipped ledger row is older than this. */
export const LAGGING_AFTER_S = 60;

export interface InfluxHealth {
  status: 'ok' | 'lagging' | 'failing';
  lagMessages: number;
  lagSeconds: number;
  lastSuccessAt: string | null;
  lastError: string | null;
  consecutiveFailures: number;
}

export interface InfluxExporter {
  health(): InfluxHealth;
  /** Resolves once everything committed before the call is in InfluxDB (tests, shutdown checks). */
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** How often the ingest rate is told to the shipper thread. */
const LOAD_EVERY_MS = 200;

export function startInfluxExporter(
  ctx: CollectorContext,
  ingest?: Pick<Ingest, 'onCommitted'>,
): InfluxExporter {
  const { config, log, metrics } = ctx;
  if (!config.influx) throw new Error('startInfluxExporter: no influx config');
  if (config.store.sqlite === ':memory:') {
    throw new Error(
      'influx: the shipper reads the ledger through its own connection, so store.sqlite must be a file',
    );
  }
  const registers = [metrics.registry];
  const m = {
    lines: new Counter({
      name: 'dayi_influx_lines_total',
      help: 'Points written to InfluxDB, by measurement',
      labelNames: ['measurement'] as const,
      registers,
    }),
    failures: new Counter({
      name: 'dayi_influx_write_failures_total',
      help: 'Failed InfluxDB write attempts, by reason (http_503, network, timeout, …); each is retried',
      labelNames: ['reason'] as const,
      registers,
    }),
    rejected: new Counter({
      name: 'dayi_influx_rejected_lines_total',
      help: 'Lines InfluxDB refused as malformed (400/422) and the shipper dropped',
      registers,
    }),
    late: new Counter({
      name: 'dayi_influx_late_observations_total',
      help: 'State observations older than their instrument’s latest, left out of the state measurement',
      registers,
    }),
    lag: new Gauge({
      name: 'dayi_influx_lag_rows',
      help: 'Rows committed in SQLite and not yet in InfluxDB, by stream (messages, usage, alerts)',
      labelNames: ['stream'] as const,
      registers,
    }),
    lagSeconds: new Gauge({
      name: 'dayi_influx_lag_seconds',
      help: 'Age of the oldest ledger message not yet in InfluxDB (0 when caught up)',
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'dayi_influx_last_success_timestamp_seconds',
      help: 'When the last InfluxDB write succeeded (unix seconds)',
      registers,
    }),
    up: new Gauge({
      name: 'dayi_influx_up',
      help: '1 when the last InfluxDB write attempt succeeded, 0 when it failed',
      registers,
    }),
  };
  for (const name of MEASUREMENTS) m.lines.inc({ measurement: name }, 0);
  for (const stream of ['messages', 'usage', 'alerts']) m.lag.set({ stream }, 0);
  m.up.set(1);

  let status: InfluxWorkerStatus | null = null;
  const counted = {
    lines: {} as Record<string, number>,
    failures: {} as Record<string, number>,
    rejected: 0,
    late: 0,
  };
  const bump = (
    c: Counter<string>,
    seen: Record<string, number>,
    label: string,
    key: string,
    total: number,
  ) => {
    const delta = total - (seen[key] ?? 0);
    if (delta > 0) c.inc({ [label]: key }, delta);
    seen[key] = total;
  };

  const data: InfluxWorkerData = { path: config.store.sqlite, config };
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: data });
  worker.unref();
  let nextFlush = 1;
  const flushWaiters = new Map<number, () => void>();
  let exited = false;
  const exitWaiters: (() => void)[] = [];

  worker.on('message', (msg: InfluxWorkerMessage) => {
    switch (msg.type) {
      case 'status': {
        status = msg.status;
        for (const [k, n] of Object.entries(status.lines)) bump(m.lines, counted.lines, 'measurement', k, n);
        for (const [k, n] of Object.entries(status.failures))
          bump(m.failures, counted.failures, 'reason', k, n);
        if (status.rejectedLines > counted.rejected) m.rejected.inc(status.rejectedLines - counted.rejected);
        counted.rejected = status.rejectedLines;
        if (status.lateObservations > counted.late) m.late.inc(status.lateObservations - counted.late);
        counted.late = status.lateObservations;
        m.lag.set({ stream: 'messages' }, status.lag.messages);
        m.lag.set({ stream: 'usage' }, status.lag.usage);
        m.lag.set({ stream: 'alerts' }, status.lag.alerts);
        m.lagSeconds.set(status.lag.seconds);
        if (status.lastSuccessAt !== null) m.lastSuccess.set(status.lastSuccessAt / 1000);
        m.up.set(status.consecutiveFailures > 0 ? 0 : 1);
        break;
      }
      case 'log':
        log[msg.level](msg.obj, msg.msg);
        break;
      case 'flushed':
        flushWaiters.get(msg.id)?.();
        flushWaiters.delete(msg.id);
        break;
      case 'closed':
        break;
    }
  });
  worker.on('error', (err) => log.error({ err }, 'InfluxDB shipper thread failed'));
  worker.on('exit', () => {
    exited = true;
    for (const w of exitWaiters.splice(0)) w();
    for (const w of flushWaiters.values()) w();
    flushWaiters.clear();
  });

  // The ingest rate, for the shipper to step aside during bursts (worker.ts): a counter per commit.
  let committed = 0;
  const unsubscribe = ingest?.onCommitted((messages) => {
    committed += messages.length;
  });
  const load = setInterval(() => {
    worker.postMessage({ type: 'load', perSecond: (committed * 1000) / LOAD_EVERY_MS });
    committed = 0;
  }, LOAD_EVERY_MS);
  load.unref();

  let closing: Promise<void> | null = null;
  return {
    health(): InfluxHealth {
      const s = status;
      const lagSeconds = s ? Math.round(s.lag.seconds * 10) / 10 : 0;
      return {
        status: s && s.consecutiveFailures > 0 ? 'failing' : lagSeconds > LAGGING_AFTER_S ? 'lagging' : 'ok',
        lagMessages: s?.lag.messages ?? 0,
        lagSeconds,
        lastSuccessAt: s?.lastSuccessAt ? new Date(s.lastSuccessAt).toISOString() : null,
        lastError: s && s.consecutiveFailures > 0 ? s.lastError : null,
        consecutiveFailures: s?.consecutiveFailures ?? 0,
      };
    },
    flush(timeoutMs = 60_000) {
      if (exited) return Promise.reject(new Error('the InfluxDB shipper has stopped'));
      const id = nextFlush++;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          flushWaiters.delete(id);
          reject(
            new Error(`InfluxDB shipper did not catch up within ${timeoutMs} ms: ${status?.lastError ?? ''}`),
          );
        }, timeoutMs);
        flushWaiters.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
        worker.postMessage({ type: 'flush', id });
      });
    },
    close() {
      clearInterval(load);
      unsubscribe?.();
      closing ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.ref();
        exitWaiters.push(resolve);
        worker.postMessage({ type: 'stop' });
        // Requests under way are aborted at once; the v2 library's are not: do not wait for them.
        setTimeout(() => void worker.terminate(), 5000).unref();
      });
      return closing;
    },
  };
}
