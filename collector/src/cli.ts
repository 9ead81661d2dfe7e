import { parseArgs } from 'node:util';
import { ConfigError, formatConfigIssue } from '@dayi/protocols';
import { pino } from 'pino';
import { build, LOG_REDACT } from './app.ts';
import { ListenError } from './broker/index.ts';
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
                the collector is stopped: the rebuild holds the store's write lock. Alerts (and
                their acknowledgements) and the detectors' state are records, not derived
                figures: rederive leaves them as they are.

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

export const REDERIVE_HELP = `Usage: dayi collector rederive -c collector.yaml [--instrument ID]

Rebuilds the derived figures (observations, daily usage, status) from the ledger of accepted
messages, for every instrument or only --instrument ID. The collector already does it by itself at
start when the time zone or offlineAfter changed, and for one instrument when its thresholds change
through the API. Run it while the collector is stopped: the rebuild holds the store's write lock.

Options:
  -c, --config FILE     the collector configuration
      --instrument ID   only this instrument
  -h, --help            this help
`;

type Out = Pick<NodeJS.WriteStream, 'write'>;

interface Parsed {
  subcommand: 'run' | 'rederive';
  config: string;
  instrument: string | undefined;
}

function parse(argv: string[], stderr: Out): Parsed | number | 'help' | 'help rederive' {
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
  const [sub, ...extra] = positionals;
  if (values.help) return sub === 'rederive' ? 'help rederive' : 'help';
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
    for (const i of err.issues) stderr.write(`  ${formatConfigIssue(i)}\n`);
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
  if (args === 'help' || args === 'help rederive') {
    stdout.write(args === 'help' ? COLLECTOR_HELP : REDERIVE_HELP);
    return 0;
  }
  if (typeof args === 'number') return args;
  const config = load(args.config, stderr);
  if (typeof config === 'number') return config;
  return args.subcommand === 'rederive'
    ? runRederive(config, args.instrument, stdout)
    : run(config, args.config, io, stderr);
}

/**
 * One line that says which key of which file to change when a port cannot be had, instead of a
 * stack trace: the usual first-run trouble is another broker already on 1883.
 */
export function cannotListen(
  err: NodeJS.ErrnoException,
  where: { key: string; host: string; port: number; file: string },
): string {
  const { key, host, port, file } = where;
  const hostKey = key.replace(/\.(tls\.)?port$/, '.host');
  switch (err.code) {
    case 'EADDRINUSE':
      return `dayi collector: ${key} ${port} on ${host} is in use by another program: set ${key} in ${file} to a free port, or stop that program\n`;
    case 'EACCES':
      return `dayi collector: ${key} ${port} on ${host} needs privileges this user does not have: set ${key} in ${file} to a port above 1023\n`;
    case 'EADDRNOTAVAIL':
      return `dayi collector: ${host} is not an address of this machine: set ${hostKey} in ${file} to one of its addresses, or 0.0.0.0 for all\n`;
    default:
      return `dayi collector: cannot listen on ${host}:${port} (${key} in ${file}): ${err.message}\n`;
  }
}

async function run(config: CollectorConfig, file: string, io: CommandIo, stderr: Out): Promise<number> {
  const stop = io.stopSignal ?? firstSignal();
  let app: Awaited<ReturnType<typeof build>>;
  try {
    app = await build(config);
  } catch (err) {
    if (err instanceof ListenError) {
      stderr.write(
        cannotListen(err.cause as NodeJS.ErrnoException, {
          key: err.key,
          host: err.host,
          port: err.port,
          file,
        }),
      );
      return 1;
    }
    stderr.write(`dayi collector: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    stderr.write(
      cannotListen(err as NodeJS.ErrnoException, {
        key: 'http.port',
        host: config.http.host,
        port: config.http.port,
        file,
      }),
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
