import type { DatabaseSync } from 'node:sqlite';
import { ConfigError, safeParseExplained } from '@dayi/protocols';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { type Logger, pino } from 'pino';
import { type AlertService, type AlertsOptions, createAlerts } from './alerts/index.ts';
import { errorHandler, notFoundHandler } from './api/errors.ts';
import { harden, serializeRequest, serverOptions } from './api/hardening.ts';
import httpMetrics from './api/http-metrics.ts';
import { api } from './api/index.ts';
import { type Broker, startBroker } from './broker/index.ts';
import { type CollectorConfig, type CollectorConfigInput, collectorConfigSchema } from './config.ts';
import type { CollectorContext } from './context.ts';
import { type Exports, startExports } from './exports.ts';
import { createIngest, type Ingest } from './ingest/index.ts';
import { createMetrics } from './metrics.ts';
import { createNotifier, type Notifier, type NotifierOptions } from './notify/index.ts';
import { bookingsOverlapping } from './query/bookings.ts';
import { ensureDeriveSettings, recomputeDirty, seedRegistry } from './query/index.ts';
import { startCheckpointer } from './store/checkpointer.ts';
import { openDatabase } from './store/sqlite.ts';

export interface BuildOptions {
  /** Wall clock for derivations ("now" of idle and online); tests fix it. */
  now?: () => number;
  /** A pino logger to use, `false` for silence, `true`/absent for one at `log.level`. */
  logger?: Logger | boolean;
  /** How often dirty days are recomputed in the background, ms (queries also recompute on demand). */
  recomputeEveryMs?: number;
  /** Notifier knobs for tests (jitter source); `notifyAutoStart: false` leaves delivery to the caller. */
  notify?: NotifierOptions;
  notifyAutoStart?: boolean;
  /** The alert sink (notifications) and the bookings provider of out_of_hours. */
  alerts?: AlertsOptions;
  /** The web dashboard's built files (default collector/web/dist); tests serve a fresh build. */
  webDist?: string;
}

/** The background recompute waits until a day has had no new message for this long. */
export const RECOMPUTE_QUIET_MS = 5000;

/** What `build()` exposes to its caller (CLI, tests, demo) besides the HTTP routes. */
export interface DayiHandle {
  ctx: CollectorContext;
  ingest: Ingest;
  /** The MQTT port actually listened on (`mqtt.port: 0` picks a free one). */
  mqttPort: number;
  /** The MQTT over TLS port, when `mqtt.tls` is set. */
  mqttTlsPort?: number;
  /** Notifications: `notifier.sink` is the alert store's onChange (call it inside its transaction). */
  notifier: Notifier;
  /** Alerts: the store (lifecycle) and the detection pass beside ingest. */
  alerts: AlertService;
}

declare module 'fastify' {
  interface FastifyInstance {
    dayi: DayiHandle;
  }
}

/** Secrets never reach the log: headers, and the parts of the config that hold keys and passwords. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  'key',
  '*.key',
  'config.apiKeys',
  'config.agents',
  'config.notify',
  'secret',
  '*.secret',
  'smtp.password',
  '*.smtp.password',
];

function makeLogger(config: CollectorConfig, logger: BuildOptions['logger']): Logger {
  if (logger && typeof logger === 'object') return logger;
  if (logger === false) return pino({ level: 'silent' });
  return pino({ level: config.log.level, redact: { paths: LOG_REDACT, censor: '[redacted]' } });
}

function parseConfig(config: CollectorConfigInput | CollectorConfig): CollectorConfig {
  const r = safeParseExplained(collectorConfigSchema, config);
  if (r.success) return r.data;
  throw new ConfigError(r.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
}

/**
 * The collector as one Fastify instance: SQLite store, registry seed, durable ingest, the embedded
 * MQTT broker and the REST API. `app.close()` tears down in reverse: broker (no new messages),
 * ingest (flush), then the store.
 */
export async function build(
  input: CollectorConfigInput | CollectorConfig,
  opts: BuildOptions = {},
): Promise<FastifyInstance> {
  const config = parseConfig(input);
  const log = makeLogger(config, opts.logger);
  const db = openDatabase(config.store.sqlite, { sync: config.store.sync });
  const ctx: CollectorContext = { config, db, metrics: createMetrics(), log, now: opts.now ?? Date.now };
  const checkpointer =
    config.store.sqlite === ':memory:'
      ? null
      : startCheckpointer(db, config.store.sqlite, { sync: config.store.sync, log });

  let ingest: Ingest | undefined;
  let broker: Broker | undefined;
  let exports: Exports | undefined;
  let alerts: AlertService | undefined;
  let notifier: Notifier | undefined;
  try {
    seedRegistry(ctx, config.instruments);
    // Days derived under another time zone or offlineAfter must not mix with new ones (re-derives).
    ensureDeriveSettings(ctx);
    ingest = createIngest(ctx);
    ctx.exports = exports = startExports(ctx, ingest);
    // Deliveries run in the background, off the ingest path; they wait in SQLite across restarts.
    notifier = createNotifier(ctx, opts.notify);
    const sink = notifier.sink;
    // Before the broker: the detection pass must see every message committed from now on.
    alerts = createAlerts(ctx, ingest, {
      // inside the alert's transaction: the change and its notifications commit together
      onChange: (change) => sink(change),
      bookingsOf: (id, from, to) =>
        bookingsOverlapping(ctx, id, from, to).map((b) => ({ start: b.start, end: b.end })),
      ...opts.alerts,
    });
    broker = await startBroker(ctx, ingest);
  } catch (err) {
    alerts?.close();
    await notifier?.close().catch(() => {});
    await ingest?.close().catch(() => {});
    await exports?.close().catch(() => {});
    await checkpointer?.close();
    closeDb(db);
    throw err;
  }
  const started = { ingest, broker, exports, alerts, notifier };

  // Per-request lines only when debugging: Prometheus scrapes and platform polls would drown the log.
  const verbose = config.log.level === 'debug' || config.log.level === 'trace';
  const app = Fastify({
    // request URLs are logged with credential-looking query parameters redacted (api/hardening.ts)
    loggerInstance: log.child({}, { serializers: { req: serializeRequest } }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !verbose }),
    ...serverOptions(config),
  });
  app.decorate('dayi', {
    ctx,
    ingest,
    mqttPort: broker.port,
    notifier: started.notifier,
    alerts,
    ...(broker.tlsPort === undefined ? {} : { mqttTlsPort: broker.tlsPort }),
  } satisfies DayiHandle);

  // Late messages leave days dirty; recomputing in the background keeps queries quick.
  const timer = setInterval(() => {
    try {
      recomputeDirty(ctx, { quietMs: RECOMPUTE_QUIET_MS });
    } catch (err) {
      log.error({ err }, 'background recompute of dirty days failed');
    }
  }, opts.recomputeEveryMs ?? 2000);
  timer.unref();

  // Registered before the plugins so that a plugin failing to load still releases port and store.
  app.addHook('onClose', async () => {
    clearInterval(timer);
    started.alerts.stopping();
    await started.notifier.close();
    await started.broker.close();
    await started.ingest.close();
    started.alerts.close();
    await started.exports.close();
    await checkpointer?.close();
    closeDb(db);
  });

  try {
    app.setErrorHandler(errorHandler);
    app.setNotFoundHandler(notFoundHandler);
    harden(app, config);
    await app.register(httpMetrics, { metrics: ctx.metrics });
    await app.register(api, {
      ctx,
      mqttPort: () => started.broker.port,
      registryChanged: (id: string) => started.ingest.invalidate(id),
      alerts,
      ...(opts.webDist ? { webDist: opts.webDist } : {}),
    });
    await app.ready();
    if (opts.notifyAutoStart !== false) started.notifier.start();
    alerts.start();
  } catch (err) {
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}

function closeDb(db: DatabaseSync): void {
  if (db.isOpen) db.close();
}
