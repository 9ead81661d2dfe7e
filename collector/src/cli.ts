import { parseArgs } from 'node:util';
import { ConfigError } from '@dayi/protocols';
import { pino } from 'pino';
import { build, LOG_REDACT } from './app.ts';
import { type CollectorConfig, loadCollectorConfig } from './config.ts';
import { secretFileWarnings } from './config-file.ts';
import type { CollectorContext } from './context.ts';
import { createMetrics } from './metrics.ts';
import { rederive } from './query/index.ts';
import { openDatabase } from './store/sqlite.ts';

export const COLLECTOR_HELP = `Usage:
  dayi collector -c collector.yaml
  dayi collector rederive -c collector.yaml [--instrument ID]

Runs the dayi collector: the embedded MQTT broker (agents publish to it), durable ingest into the
SQLite store, usage/idle derivation and the REST API. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.

  rederive      rebuilds the derived figures (observations, daily usage, status) from the ledger of
                accepted messages, for every instrument or only --instrument ID. The collector
                already does it by itself at start when the time zone or offlineAfter changed,
                and for one instrument when its thresholds change through the API. Run it while
                the collector is stopped: the rebuild holds the store's write lock.

Options:
  -c, --config FILE     the collector configuration (YAML; \${VAR} is taken from the environment)
      --instrument ID   with rederive: only this instrument
  -h, --help            this help

Example:
  DAYI_PLATFORM_KEY=$(openssl rand -hex 24) dayi collector -c collector.yaml
  curl -H "Authorization: Bearer $DAYI_PLATFORM_KEY" http://127.0.0.1:8080/v1/instruments

The API is described at http://<http.host>:<http.port>/docs (OpenAPI at /openapi.json).
Docs: docs/configuration.md (every key), docs/api.md (routes, roles, error codes), collector/README.md.
`;

type Out = Pick<NodeJS.WriteStream, 'write'>;

interface Parsed {
  subcommand: 'run' | 'rederive';
  config: string;
  instrument: string | undefined;
}

function parse(argv: string[], stderr: Out): Parsed | number {
  let values: { config?: string; instrument?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        instrument: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    stderr.write(`dayi collector: ${(err as Error).message}\n\n${COLLECTOR_HELP}`);
    return 2;
  }
  if (values.help) return 0;
  const [sub, ...extra] = positionals;
  if ((sub !== undefined && sub !== 'rederive') || extra.length > 0) {
    stderr.write(
      `dayi collector: unexpected argument ${JSON.stringify(sub === 'rederive' ? extra[0] : sub)}\n\n${COLLECTOR_HELP}`,
    );
    return 2;
  }
  if (!values.config) {
    stderr.write(`dayi collector: -c collector.yaml is required\n\n${COLLECTOR_HELP}`);
    return 2;
  }
  if (values.instrument !== undefined && sub !== 'rederive') {
    stderr.write(`dayi collector: --instrument is an option of rederive\n\n${COLLECTOR_HELP}`);
    return 2;
  }
  return {
    subcommand: sub === 'rederive' ? 'rederive' : 'run',
    config: values.config,
    instrument: values.instrument,
  };
}

function load(file: string, stderr: Out): CollectorConfig | number {
  try {
    return loadCollectorConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr.write(
      `${file}: ${err.issues.length} error${err.issues.length === 1 ? '' : 's'} in collector config\n`,
    );
    for (const i of err.issues) stderr.write(`  ${i.path || '(root)'}: ${i.message}\n`);
    return 2;
  }
}

export interface CommandIo {
  stdout?: Out;
  stderr?: Out;
  /** Resolves when the collector should stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<string>;
}

function firstSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `dayi collector …`: resolves with the exit code once the collector has stopped. */
export async function collectorCommand(argv: string[], io: CommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const args = parse(argv, stderr);
  if (args === 0) {
    stdout.write(COLLECTOR_HELP);
    return 0;
  }
  if (typeof args === 'number') return args;
  const config = load(args.config, stderr);
  if (typeof config === 'number') return config;
  return args.subcommand === 'rederive'
    ? runRederive(config, args.instrument, stdout)
    : run(config, io, stderr, args.config);
}

async function run(config: CollectorConfig, io: CommandIo, stderr: Out, file: string): Promise<number> {
  const stop = io.stopSignal ?? firstSignal();
  let app: Awaited<ReturnType<typeof build>>;
  try {
    app = await build(config);
  } catch (err) {
    stderr.write(`dayi collector: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    stderr.write(
      `dayi collector: cannot listen on http ${config.http.host}:${config.http.port}: ${(err as Error).message}\n`,
    );
    await app.close();
    return 1;
  }
  const keys = { httpTlsKey: config.http.tls?.key, mqttTlsKey: config.mqtt.tls?.key };
  for (const warning of secretFileWarnings(file, keys)) app.log.warn(warning);
  const addr = app.server.address();
  const port = addr && typeof addr === 'object' ? addr.port : config.http.port;
  const base = `${config.http.tls ? 'https' : 'http'}://${hostForUrl(config.http.host)}:${port}`;
  app.log.info(
    {
      api: `${base}/v1`,
      docs: `${base}/docs`,
      openapi: `${base}/openapi.json`,
      mqtt: `mqtt://${hostForUrl(config.mqtt.host)}:${app.dayi.mqttPort}`,
      store: config.store.sqlite,
    },
    'dayi collector ready',
  );
  const signal = await stop;
  app.log.info({ signal }, 'stopping: closing the broker, flushing ingest, closing the store');
  await app.close();
  return 0;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function runRederive(
  config: CollectorConfig,
  instrument: string | undefined,
  stdout: Out,
): Promise<number> {
  const log = pino({ level: config.log.level, redact: { paths: LOG_REDACT, censor: '[redacted]' } });
  const db = openDatabase(config.store.sqlite, { sync: config.store.sync });
  const ctx: CollectorContext = { config, db, metrics: createMetrics(), log, now: Date.now };
  try {
    const r = rederive(ctx, instrument);
    stdout.write(
      `rederived ${instrument ?? 'every instrument'} from the ledger: ${r.instruments} instruments, ` +
        `${r.messages} messages, ${r.observations} observations, ${r.days} days\n`,
    );
    return 0;
  } finally {
    db.close();
  }
}

/** `dayi demo`: the collector plus a simulated fleet (collector/src/demo/). */
export async function demoCommand(argv: string[]): Promise<number> {
  const { runDemo } = await import('./demo/index.ts');
  return runDemo(argv);
}
