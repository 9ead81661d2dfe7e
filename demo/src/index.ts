import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '@dayi/collector/app.ts';
import type { CollectorConfigInput } from '@dayi/collector/config.ts';
import { addDays, dateOf } from '@dayi/collector/derive/pure/calendar.ts';
import { topicFor } from '@dayi/protocols';
import type { FastifyInstance } from 'fastify';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { DEMO_FLEET, thresholdsFor } from './fleet.ts';
import { HISTORY_SEQ_BASE, historyOf, seedOf } from './history.ts';
import {
  DEMO_ANOMALY,
  DEMO_CRASHING,
  DEMO_REPORTED,
  DEMO_SKEWED,
  incidentEvents,
  withIncident,
} from './incidents.ts';

export const DEMO_HELP = `Usage: dayi demo [--port 8080] [--mqtt-port 1883] [--data ./data/demo] [--days 14]

Runs the collector with its embedded MQTT broker and SQLite store, plus ${DEMO_FLEET.length} simulated instruments:
office-hours use with a lunch break, overnight runs, one instrument idle for four months (history
backfilled over MQTT), one registered instrument that never reports. The history holds incidents
that raise alerts of every kind: anomalies (late use, a power draw out of band, a fault, a frozen
meter, cycling, a long run, a worn pump, lost data, a clock ahead), an agent that crashes (offline),
the idle instrument, and a user's report. Prints the web page's URL first, then the API key to
sign in with, the API and docs URLs. The first run backfills --days of history; later runs reuse
the store in --data. A port in use is replaced by a free one. Stop with Ctrl-C.
`;

const TIMEZONE = 'Asia/Shanghai';
const HISTORY_STEP_MS = 5 * 60_000;

interface Secrets {
  apiKey: string;
  agentPassword: string;
}

/** Keys are made once per data folder, so a restarted demo keeps the key you already copied. */
function secretsIn(dir: string): Secrets {
  const file = join(dir, 'demo-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
  const s = {
    apiKey: randomBytes(24).toString('base64url'),
    agentPassword: randomBytes(18).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
  return s;
}

function collectorConfig(
  dir: string,
  secrets: Secrets,
  httpPort: number,
  mqttPort: number,
): CollectorConfigInput {
  return {
    http: { host: '127.0.0.1', port: httpPort },
    mqtt: { host: '127.0.0.1', port: mqttPort },
    store: { sqlite: join(dir, 'dayi.sqlite'), sync: 'normal' },
    timezone: TIMEZONE,
    // History arrives every 5 min; live agents publish every 10 s.
    offlineAfter: '10m',
    log: { level: 'warn' },
    apiKeys: [{ name: 'demo', key: secrets.apiKey, role: 'admin' }],
    agents: [
      { username: 'demo-agent', password: secrets.agentPassword, instruments: DEMO_FLEET.map((i) => i.id) },
    ],
    instruments: DEMO_FLEET.map((i) => ({
      id: i.id,
      name: i.name,
      org: i.org,
      category: i.category,
      quotaHours: i.quotaHours,
      thresholds: { signal: 'power_w', ...thresholdsFor(i.watts) },
      ...(DEMO_ANOMALY[i.id] ? { anomaly: DEMO_ANOMALY[i.id] } : {}),
    })),
  };
}

function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE';
}

async function startCollector(dir: string, secrets: Secrets, httpPort: number, mqttPort: number) {
  let app: FastifyInstance;
  try {
    app = await build(collectorConfig(dir, secrets, httpPort, mqttPort));
  } catch (err) {
    if (!isAddressInUse(err) || mqttPort === 0) throw err;
    process.stderr.write(`MQTT port ${mqttPort} is in use; using a free port instead.\n`);
    app = await build(collectorConfig(dir, secrets, httpPort, 0));
  }
  try {
    await app.listen({ host: '127.0.0.1', port: httpPort });
  } catch (err) {
    if (!isAddressInUse(err) || httpPort === 0) throw err;
    process.stderr.write(`HTTP port ${httpPort} is in use; using a free port instead.\n`);
    await app.listen({ host: '127.0.0.1', port: 0 });
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : httpPort;
  return { app, httpPort: port, mqttPort: app.dayi.mqttPort };
}

/** Publishes the fleet's history through the broker, as an agent replaying its outbox would. */
async function backfill(mqttPort: number, secrets: Secrets, days: number, now: number): Promise<number> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    clientId: 'demo-agent:history',
    username: 'demo-agent',
    password: secrets.agentPassword,
    protocolVersion: 4,
  });
  let sent = 0;
  try {
    for (const inst of DEMO_FLEET) {
      const topic = topicFor(inst.id, 'telemetry');
      const pending = new Set<Promise<unknown>>();
      for (const past of historyOf(inst, { now, days, stepMs: HISTORY_STEP_MS, timezone: TIMEZONE })) {
        const msg = withIncident(inst, past, now, TIMEZONE);
        const p = client
          .publishAsync(topic, JSON.stringify(msg), { qos: 1 })
          .finally(() => pending.delete(p));
        pending.add(p);
        sent++;
        if (pending.size >= 200) await Promise.race(pending);
      }
      await Promise.all(pending);
    }
    let seq = HISTORY_SEQ_BASE;
    for (const { id, event } of incidentEvents(now, TIMEZONE)) {
      await client.publishAsync(topicFor(id, 'event'), JSON.stringify({ ...event, seq: seq++ }), { qos: 1 });
      sent++;
    }
  } finally {
    await client.endAsync();
  }
  return sent;
}

/**
 * Each start: the agent of one instrument crashes (its connection drops without a DISCONNECT, so
 * the broker publishes its will: offline), and another agent's clock runs 6 minutes ahead.
 */
async function incidentsAtStart(mqttPort: number, secrets: Secrets, now: number): Promise<void> {
  const status = (online: boolean) =>
    JSON.stringify({ ts: now, online, agent: { id: 'demo-afm-agent', version: '1.0.0' } });
  const crashing = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    clientId: 'demo-agent:afm',
    username: 'demo-agent',
    password: secrets.agentPassword,
    protocolVersion: 4,
    will: {
      topic: topicFor(DEMO_CRASHING, 'status'),
      payload: Buffer.from(status(false)),
      qos: 1,
      retain: true,
    },
  });
  await crashing.publishAsync(topicFor(DEMO_CRASHING, 'status'), status(true), { qos: 1, retain: true });
  await new Promise<void>((done) => {
    crashing.stream.once('close', () => done());
    crashing.options.reconnectPeriod = 0;
    crashing.stream.destroy();
  });
  crashing.end(true);
  const skewed = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    clientId: 'demo-agent:icp-clock',
    username: 'demo-agent',
    password: secrets.agentPassword,
    protocolVersion: 4,
  });
  const event = {
    ts: now + 6 * 60_000,
    seq: 2 * HISTORY_SEQ_BASE + Math.floor(now / 1000),
    type: 'agent_started',
    severity: 'info',
  };
  await skewed.publishAsync(topicFor(DEMO_SKEWED, 'event'), JSON.stringify(event), { qos: 1 });
  await skewed.endAsync();
}

function hasHistory(app: FastifyInstance): boolean {
  const row = app.dayi.ctx.db
    .prepare('SELECT 1 AS x FROM messages WHERE seq >= ? LIMIT 1')
    .get(HISTORY_SEQ_BASE);
  return row !== undefined;
}

async function startAgents(dir: string, secrets: Secrets, mqttPort: number) {
  const { startAgent } = await import('@dayi/agent/runtime.ts');
  const { agentConfigSchema } = await import('@dayi/agent/config.ts');
  const config = agentConfigSchema.parse({
    agent: { id: 'demo-agent' },
    mqtt: { url: `mqtt://127.0.0.1:${mqttPort}`, username: 'demo-agent', password: secrets.agentPassword },
    outbox: { dir: join(dir, 'outbox'), maxBytes: '64MiB', fsync: false },
    log: { level: 'warn' },
    instruments: DEMO_FLEET.filter((i) => i.behaviour !== 'never' && i.id !== DEMO_CRASHING).map((i) => ({
      id: i.id,
      publishEvery: '10s',
      inputs: [
        {
          type: 'simulated',
          pattern: i.behaviour === 'idle-months' ? 'constant' : i.behaviour,
          level: i.behaviour === 'idle-months' ? 'off' : (i.level ?? 'running'),
          watts: i.watts,
          seed: seedOf(i.id),
          timezone: TIMEZONE,
          every: '1s',
        },
      ],
      state: { signal: 'power_w', thresholds: thresholdsFor(i.watts), window: '10s', minDwell: '30s' },
    })),
  });
  return startAgent(config, { log: pino({ level: 'warn', name: 'dayi-demo-agent' }) });
}

export async function runDemo(argv: string[]): Promise<number> {
  let values: { port: string; 'mqtt-port': string; data: string; days: string; help: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '8080' },
        'mqtt-port': { type: 'string', default: '1883' },
        data: { type: 'string', default: './data/demo' },
        days: { type: 'string', default: '14' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }) as { values: typeof values });
  } catch (err) {
    process.stderr.write(`dayi demo: ${(err as Error).message}\n\n${DEMO_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const nums = {
    port: Number(values.port),
    mqttPort: Number(values['mqtt-port']),
    days: Number(values.days),
  };
  for (const [k, v] of Object.entries(nums)) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) {
      process.stderr.write(
        `dayi demo: --${k === 'mqttPort' ? 'mqtt-port' : k} must be a whole number, got ${v}\n`,
      );
      return 2;
    }
  }
  const dir = resolve(values.data);
  mkdirSync(dir, { recursive: true });
  const secrets = secretsIn(dir);
  const { app, httpPort, mqttPort } = await startCollector(dir, secrets, nums.port, nums.mqttPort);

  const base = `http://127.0.0.1:${httpPort}`;
  // The page first: it is served from now on, and fills in as the history arrives.
  process.stdout.write(`dayi demo: web dashboard ${base}/ (sign in with the key printed below)\n`);

  const firstRun = !hasHistory(app);
  if (firstRun) {
    process.stdout.write(`Backfilling ${nums.days} days of history for the fleet over MQTT…\n`);
    const n = await backfill(mqttPort, secrets, nums.days, Date.now());
    process.stdout.write(`  ${n} messages acknowledged.\n`);
  }
  await incidentsAtStart(mqttPort, secrets, Date.now());
  if (firstRun) {
    const r = await app.inject({
      method: 'POST',
      url: `/v1/instruments/${DEMO_REPORTED.id}/reports`,
      headers: { authorization: `Bearer ${secrets.apiKey}` },
      payload: { text: DEMO_REPORTED.text },
    });
    if (r.statusCode !== 201) process.stderr.write(`the demo report was refused: ${r.body}\n`);
  }
  // Detect over the backfill now rather than in the background, so the alerts are there at once.
  app.dayi.alerts.runner.drain();
  const agents = await startAgents(dir, secrets, mqttPort);

  const today = dateOf(Date.now(), TIMEZONE);
  const from = addDays(today, -nums.days);
  process.stdout.write(
    [
      '',
      `dayi demo: ${DEMO_FLEET.length} instruments (${DEMO_FLEET.length - 2} simulated live, 1 whose agent crashed, 1 never reports)`,
      `  Web page ${base}/`,
      `  API key  ${secrets.apiKey}   (role admin; sign in with it; stored in ${join(dir, 'demo-secrets.json')})`,
      `  API      ${base}/v1/instruments`,
      `  API docs ${base}/docs`,
      `  metrics  ${base}/metrics`,
      `  MQTT     mqtt://127.0.0.1:${mqttPort} (user demo-agent)`,
      '',
      'Try:',
      `  curl -H "Authorization: Bearer ${secrets.apiKey}" ${base}/v1/instruments`,
      `  curl -H "Authorization: Bearer ${secrets.apiKey}" "${base}/v1/instruments/ZJ-NMR-0001/usage?from=${from}&to=${today}"`,
      `  curl -H "Authorization: Bearer ${secrets.apiKey}" "${base}/v1/idle?days=90"`,
      `  curl -H "Authorization: Bearer ${secrets.apiKey}" "${base}/v1/alerts?status=open"`,
      '',
      'Ctrl-C stops.',
      '',
    ].join('\n'),
  );

  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write('Stopping…\n');
  await agents.stop();
  await app.close();
  return 0;
}
