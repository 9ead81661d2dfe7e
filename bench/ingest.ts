/**
 * bench/ingest: messages/s through (a) bare Aedes pub→sub, (b) Mosquitto pub→sub and (c) the dayi
 * collector's durable ingest (acknowledged = in the SQLite ledger), with the same load generator in
 * the same run. Each broker runs in its own child process on loopback; the generator runs here.
 * Prints one JSON object on stdout. Usage: npm run bench -- ingest [--messages N] [--clients N] [--rounds N]
 *   [--shape fleet]   (rows of the fleet's shape: 256 clients × 4 in flight, 4,096 × 2; aedes and collector)
 *   [--inflight N] [--targets aedes,collector,collectorSyncFull,collectorInflux,mosquitto]
 *   (collectorInflux: the collector with `influx:` configured, shipping to a real influxd meanwhile)
 *   [--node-arg=--cpu-prof --node-arg=--cpu-prof-dir=DIR]   (Node arguments for the collector)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { INFLUXD, type Influxd, startInfluxd } from '../collector/test/helpers/influxd.ts';
import { clockTicks, sampleProc } from './agent-procfs.ts';
import { freePort } from './net.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const NODE = process.execPath;

export interface IngestOptions {
  messages: number;
  clients: number;
  rounds: number;
  inflight: number;
  /** Which targets to run (all by default): aedes, collector, collectorSyncFull, mosquitto. */
  targets?: string[];
  /** Extra Node arguments for the collector process (e.g. --cpu-prof), before the script. */
  nodeArgs?: string[];
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        connectTimeout: 500,
        // the collector accepts only client ids under the agent's username (`bench:…`)
        clientId: `bench:probe-${i}`,
        username: 'bench',
        password: 'bench-password-1',
      });
      c.on('connect', () => {
        c.end(true);
        resolve(true);
      });
      c.on('error', () => {
        c.end(true);
        resolve(false);
      });
      c.on('close', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

function peakRssBytes(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function connect(port: number, id: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: id,
      username: 'bench',
      password: 'bench-password-1',
      protocolVersion: 4,
      reconnectPeriod: 0,
      clean: true,
    });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** Publishes `perClient` QoS 1 telemetry messages from each client with a bounded in-flight window. */
interface RoundResult {
  messagesPerSecond: number;
  /** CPU seconds the broker process (all its threads) used per 1000 messages. */
  brokerCpuMsPerMessage: number | null;
  /** Share of one core the broker process used while the round ran. */
  brokerCpuShare: number | null;
  /** The same for this load generator (publishers, and the subscriber when there is one). */
  generatorCpuShare: number;
  /** CONNECT to CONNACK for all clients at once, as after a broker restart (not in the rate). */
  connectsPerSecond: number;
}

async function load(
  port: number,
  o: IngestOptions,
  round: number,
  subscriber: MqttClient | null,
  brokerPid: number,
): Promise<RoundResult> {
  const perClient = Math.ceil(o.messages / o.clients);
  const total = perClient * o.clients;
  const connecting = process.hrtime.bigint();
  const clients = await Promise.all(
    Array.from({ length: o.clients }, (_, i) => connect(port, `bench:pub-${round}-${i}`)),
  );
  const connectSeconds = Number(process.hrtime.bigint() - connecting) / 1e9;
  let received = 0;
  let resolveReceived: () => void = () => {};
  const allReceived = new Promise<void>((r) => {
    resolveReceived = r;
  });
  if (subscriber) {
    subscriber.removeAllListeners('message');
    subscriber.on('message', () => {
      if (++received === total) resolveReceived();
    });
  } else {
    resolveReceived();
  }
  // Event times rise through the run, warm-up (round 99) first, as an agent's would: a collector
  // that detects anomalies by event time should see live data, not a replay of the past.
  const baseTs = Date.UTC(2026, 0, 1) + (round === 99 ? 0 : round + 1) * 86_400_000;
  const brokerBefore = sampleProc(brokerPid);
  const generatorBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (c, i) => {
      const id = `BENCH-${String(i).padStart(3, '0')}`;
      const topic = `dayi/v1/${id}/telemetry`;
      let next = 0;
      const worker = async () => {
        while (next < perClient) {
          const seq = round * perClient + next++;
          const payload = JSON.stringify({
            ts: baseTs + seq * 1000,
            seq,
            metrics: { power_w: 400 + (seq % 50), current_a: 1.8 },
            state: 'running',
          });
          await c.publishAsync(topic, payload, { qos: 1 });
        }
      };
      await Promise.all(Array.from({ length: o.inflight }, worker));
    }),
  );
  await allReceived;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const brokerAfter = sampleProc(brokerPid);
  const generator = process.cpuUsage(generatorBefore);
  await Promise.all(clients.map((c) => c.endAsync()));
  const brokerCpuSeconds =
    brokerBefore && brokerAfter ? (brokerAfter.cpuTicks - brokerBefore.cpuTicks) / TICKS : null;
  return {
    messagesPerSecond: total / seconds,
    brokerCpuMsPerMessage: brokerCpuSeconds === null ? null : (brokerCpuSeconds * 1000) / total,
    brokerCpuShare: brokerCpuSeconds === null ? null : brokerCpuSeconds / seconds,
    generatorCpuShare: (generator.user + generator.system) / 1e6 / seconds,
    connectsPerSecond: o.clients / connectSeconds,
  };
}

const TICKS = clockTicks();

interface Target {
  name: string;
  start(port: number, dir: string): ChildProcess;
  /** Whether a subscriber must receive every message (pub→sub) or PUBACK alone is the goal. */
  subscribe: boolean;
}

/** The dayi collector as a user runs it (`dayi collector -c`), with `store.sync` normal or full. */
function collectorTarget(
  dir: string,
  sync: 'normal' | 'full',
  nodeArgs: string[],
  instruments: number,
  influxUrl?: () => string,
): Target {
  return {
    name: influxUrl ? 'collectorInflux' : sync === 'normal' ? 'collector' : 'collectorSyncFull',
    subscribe: false,
    start: (port) => {
      const ids = Array.from(
        { length: Math.max(256, instruments) },
        (_, i) => `BENCH-${String(i).padStart(3, '0')}`,
      );
      const file = join(dir, `collector-${sync}.yaml`);
      writeFileSync(
        file,
        [
          'http: { host: 127.0.0.1, port: 0 }',
          `mqtt: { host: 127.0.0.1, port: ${port} }`,
          `store: { sqlite: ${join(dir, `collector-${sync}${influxUrl ? '-influx' : ''}.sqlite`)}, sync: ${sync} }`,
          ...(influxUrl ? [`influx: { url: "${influxUrl()}", database: bench }`] : []),
          'log: { level: warn }',
          `agents: [{ username: bench, password: bench-password-1, instruments: [${ids.join(', ')}] }]`,
        ].join('\n'),
        // it holds an agent password: private, as the collector asks of such files
        { mode: 0o600 },
      );
      // its log to our stderr: stdout carries only the JSON result
      return spawn(NODE, [...nodeArgs, join(ROOT, 'bin/dayi.js'), 'collector', '-c', file], {
        stdio: ['ignore', 2, 2],
      });
    },
  };
}

function targets(dir: string, nodeArgs: string[], instruments: number, influxUrl: () => string): Target[] {
  const list: Target[] = [
    {
      name: 'aedes',
      subscribe: true,
      start: (port) => spawn(NODE, [join(ROOT, 'bench/aedes-broker.ts'), String(port)], { stdio: 'inherit' }),
    },
    collectorTarget(dir, 'normal', nodeArgs, instruments),
    collectorTarget(dir, 'full', nodeArgs, instruments),
  ];
  // The collector shipping to a real influxd while it ingests (bench/influx measures the shipper).
  if (spawnSync('test', ['-x', INFLUXD]).status === 0)
    list.push(collectorTarget(dir, 'normal', nodeArgs, instruments, influxUrl));
  if (
    spawnSync('which', ['mosquitto']).status === 0 ||
    spawnSync('test', ['-x', '/usr/sbin/mosquitto']).status === 0
  ) {
    list.push({
      name: 'mosquitto',
      subscribe: true,
      start: (port) => {
        writeFileSync(
          join(dir, `mosquitto-${port}.conf`),
          `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n`,
        );
        return spawn('/usr/sbin/mosquitto', ['-c', join(dir, `mosquitto-${port}.conf`)], { stdio: 'ignore' });
      },
    });
  }
  return list;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runIngestBench(o: IngestOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-'));
  const results: Record<
    string,
    {
      messagesPerSecond: number;
      rounds: number[];
      peakRssBytes: number | null;
      brokerCpuMsPer1000: number | null;
      brokerCpuShare: number | null;
      generatorCpuShare: number;
      connectsPerSecond: number;
    }
  > = {};
  try {
    let influxd: Influxd | null = null;
    const influxUrl = () => {
      if (!influxd) throw new Error('influxd is not running');
      return influxd.url;
    };
    for (const t of targets(dir, o.nodeArgs ?? [], o.clients, influxUrl).filter(
      (t) => !o.targets || o.targets.includes(t.name),
    )) {
      if (t.name === 'collectorInflux') influxd ??= await startInfluxd();
      const port = await freePort();
      const child = t.start(port, dir);
      try {
        await waitForPort(port, child, t.name);
        let sub: MqttClient | null = null;
        if (t.subscribe) {
          sub = await connect(port, `bench-sub-${t.name}`);
          await sub.subscribeAsync('dayi/v1/+/telemetry', { qos: 1 });
        }
        const rounds: RoundResult[] = [];
        await load(port, { ...o, messages: Math.min(o.messages, 2000) }, 99, sub, child.pid!); // warm-up
        for (let r = 0; r < o.rounds; r++) rounds.push(await load(port, o, r, sub, child.pid!));
        await sub?.endAsync();
        const cpu = rounds.map((r) => r.brokerCpuMsPerMessage).filter((x) => x !== null);
        const share = rounds.map((r) => r.brokerCpuShare).filter((x) => x !== null);
        results[t.name] = {
          messagesPerSecond: Math.round(median(rounds.map((r) => r.messagesPerSecond))),
          rounds: rounds.map((r) => Math.round(r.messagesPerSecond)),
          peakRssBytes: peakRssBytes(child.pid!),
          brokerCpuMsPer1000: cpu.length ? Number((median(cpu) * 1000).toFixed(1)) : null,
          brokerCpuShare: share.length ? Number(median(share).toFixed(2)) : null,
          generatorCpuShare: Number(median(rounds.map((r) => r.generatorCpuShare)).toFixed(2)),
          connectsPerSecond: Math.round(median(rounds.map((r) => r.connectsPerSecond))),
        };
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      }
    }
    await influxd?.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const aedes = results.aedes?.messagesPerSecond ?? Number.NaN;
  return {
    bench: 'ingest',
    node: process.version,
    options: o,
    note: 'median messages/s over rounds; aedes and mosquitto: publisher PUBACK + subscriber delivery; collector: PUBACK after the message is committed to the SQLite ledger with store.sync normal (the default); collectorSyncFull: the same with store.sync full (fsync at every commit)',
    results,
    ratio: {
      collectorVsAedes: Number(((results.collector?.messagesPerSecond ?? Number.NaN) / aedes).toFixed(3)),
      ...(results.collectorInflux
        ? {
            collectorInfluxVsAedes: Number((results.collectorInflux.messagesPerSecond / aedes).toFixed(3)),
            collectorInfluxVsCollector: Number(
              (
                results.collectorInflux.messagesPerSecond /
                (results.collector?.messagesPerSecond ?? Number.NaN)
              ).toFixed(3),
            ),
          }
        : {}),
      collectorSyncFullVsAedes: Number(
        ((results.collectorSyncFull?.messagesPerSecond ?? Number.NaN) / aedes).toFixed(3),
      ),
      ...(results.mosquitto
        ? {
            collectorVsMosquitto: Number(
              (
                (results.collector?.messagesPerSecond ?? Number.NaN) / results.mosquitto.messagesPerSecond
              ).toFixed(3),
            ),
          }
        : {}),
    },
    collectorPeakRssMiB: results.collector?.peakRssBytes
      ? Number((results.collector.peakRssBytes / 2 ** 20).toFixed(1))
      : null,
  };
}

/**
 * The fleet's shape (many agents, each with few messages in flight): 256 × 4 and 4,096 × 2, bare
 * Aedes and the collector, with the brokers' CPU per 1,000 messages beside msg/s, since one load
 * process driving 4,096 mqtt.js clients may bound the rate before the broker does.
 */
export async function runIngestFleetRows(
  o: Pick<IngestOptions, 'rounds' | 'nodeArgs'> & { messages: number },
) {
  const rows = [];
  for (const [clients, inflight] of [
    [256, 4],
    [4096, 2],
  ] as const) {
    const r = await runIngestBench({
      messages: o.messages,
      clients,
      inflight,
      rounds: o.rounds,
      targets: ['aedes', 'collector'],
      ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
    });
    const a = r.results.aedes!;
    const c = r.results.collector!;
    rows.push({
      clients,
      inflight,
      aedes: {
        messagesPerSecond: a.messagesPerSecond,
        cpuMsPer1000: a.brokerCpuMsPer1000,
        cpuShare: a.brokerCpuShare,
        generatorCpuShare: a.generatorCpuShare,
      },
      collector: {
        messagesPerSecond: c.messagesPerSecond,
        cpuMsPer1000: c.brokerCpuMsPer1000,
        cpuShare: c.brokerCpuShare,
        generatorCpuShare: c.generatorCpuShare,
      },
      collectorVsAedes: r.ratio.collectorVsAedes,
      cpuPerMessageCollectorVsAedes:
        a.brokerCpuMsPer1000 && c.brokerCpuMsPer1000
          ? Number((c.brokerCpuMsPer1000 / a.brokerCpuMsPer1000).toFixed(2))
          : null,
    });
  }
  return {
    bench: 'ingest',
    shape: 'fleet',
    node: process.version,
    note: 'aedes: publisher PUBACK + subscriber delivery; collector: PUBACK after the SQLite COMMIT (store.sync normal). cpuMsPer1000: broker CPU (all threads) per 1,000 messages; generatorCpuShare near 1.0 means the load generator, not the broker, bounded msg/s',
    rows,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '40000' },
      clients: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      inflight: { type: 'string', default: '16' },
      targets: { type: 'string' },
      shape: { type: 'string' },
      'node-arg': { type: 'string', multiple: true },
    },
  });
  if (values.shape !== undefined && values.shape !== 'fleet') {
    process.stderr.write(`--shape ${values.shape}: the only shape is fleet\n`);
    process.exit(2);
  }
  const result =
    values.shape === 'fleet'
      ? await runIngestFleetRows({
          messages: Number(values.messages),
          rounds: Number(values.rounds),
          ...(values['node-arg'] ? { nodeArgs: values['node-arg'] } : {}),
        })
      : await runIngestBench({
          messages: Number(values.messages),
          clients: Number(values.clients),
          rounds: Number(values.rounds),
          inflight: Number(values.inflight),
          ...(values.targets ? { targets: values.targets.split(',') } : {}),
          ...(values['node-arg'] ? { nodeArgs: values['node-arg'] } : {}),
        });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
