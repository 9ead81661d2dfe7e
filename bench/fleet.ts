/**
 * bench/fleet: the province's fleet on one box. N agent sessions (default 16,000), each its own
 * agent (username, password, client id = username, one instrument), connect at once (the connect
 * storm) and then send QoS 1 telemetry together at a target rate, from load processes of their own
 * (bench/fleet-load.ts: raw sockets, MQTT packets written by hand), against (a) the dayi collector
 * as `dayi collector -c` runs it and (b) bare Aedes (bench/aedes-broker.ts), in the same run.
 *
 * Reports per target: connects/s in the storm; per interval offered and acknowledged msg/s, PUBACK
 * latency p50/p99 and the broker's CPU (all threads, /proc) and RSS; per rate the totals, PUBACK
 * p50/p99, publish-to-API-visible latency p50/p99 (a state change published by one more agent,
 * then polled on /v1/instruments/{id}), /healthz latency under load, CPU share and CPU ms per 1,000
 * messages, RSS steady (median) and peak.
 *
 * Usage: npm run bench -- fleet [--sessions 16000] [--rate 1600[,10000]] [--duration 60]
 *   [--interval 5] [--procs N] [--targets collector,aedes] [--drain 30] [--window 512]
 *   [--env MALLOC_ARENA_MAX=2 …] (environment of the broker process)
 *   [--targets collector@MALLOC_ARENA_MAX=2,…] a target with one more environment variable
 *   [--base REF] adds target collectorBase: the collector as committed at git REF (before/after in one run)
 *   [--node-arg=--cpu-prof --node-arg=--cpu-prof-dir=DIR]  (Node arguments for the collector)
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { clockTicks, median, type ProcSample, peakRss, sampleProc } from './agent-procfs.ts';
import { fleetCredentials } from './fleet-credentials.ts';
import { count, type Hist, merge, quantile } from './fleet-hist.ts';
import { freePort, sleep } from './net.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const NODE = process.execPath;
const TICKS = clockTicks();
const MIB = 2 ** 20;
const API_KEY = 'fleet-bench-api-key-0123456789';
const PROBE = { username: 'fleet-probe', password: 'fleet-probe-password', instrument: 'FLEET-PROBE' };

export interface FleetOptions {
  sessions: number;
  rates: number[];
  durationS: number;
  intervalS: number;
  procs: number;
  targets: string[];
  drainS: number;
  window: number;
  env: Record<string, string>;
  nodeArgs: string[];
  probeEveryMs: number;
  /** A git ref: target `collectorBase` runs the collector as committed there. */
  base?: string;
}

const round = (x: number | null, d = 1) => (x === null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));

function collectorConfig(o: FleetOptions, dir: string, mqttPort: number, httpPort: number): string {
  const agents = [];
  const instruments = [];
  for (let i = 0; i < o.sessions; i++) {
    const c = fleetCredentials(i);
    agents.push({ username: c.username, password: c.password, instruments: [c.instrument] });
    instruments.push({ id: c.instrument });
  }
  agents.push({ username: PROBE.username, password: PROBE.password, instruments: [PROBE.instrument] });
  instruments.push({ id: PROBE.instrument });
  const config = {
    http: { host: '127.0.0.1', port: httpPort },
    mqtt: { host: '127.0.0.1', port: mqttPort },
    store: { sqlite: join(dir, 'fleet.sqlite') },
    log: { level: 'warn' },
    apiKeys: [{ name: 'bench', key: API_KEY, role: 'platform' }],
    agents,
    instruments,
  };
  const file = join(dir, 'collector.yaml');
  // JSON is YAML; 0600 as a config holding passwords must be
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

async function waitForBroker(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        connectTimeout: 1000,
        clientId: PROBE.username,
        username: PROBE.username,
        password: PROBE.password,
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
    await sleep(200);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

interface LoadProc {
  child: ChildProcess;
  on(type: string): Promise<Record<string, unknown>>;
}

function forkLoad(): LoadProc {
  const child = fork(join(ROOT, 'bench/fleet-load.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, ((m: Record<string, unknown>) => void)[]>();
  const listeners: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    for (const l of listeners) l(m);
    const w = waiting.get(m.type as string)?.shift();
    w?.(m);
  });
  return Object.assign(
    {
      child,
      on(type: string) {
        return new Promise<Record<string, unknown>>((resolve) => {
          const list = waiting.get(type) ?? [];
          list.push(resolve);
          waiting.set(type, list);
        });
      },
    },
    { listeners },
  );
}

interface IntervalAgg {
  offered: number;
  acked: number;
  hist: Hist;
  reports: number;
}

/** Polls `/healthz` once a second while `running()`; returns the latencies in ms. */
async function pollHealth(httpPort: number, running: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (running()) {
    const t = performance.now();
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      await r.arrayBuffer();
      out.push(performance.now() - t);
    } catch {
      out.push(Number.POSITIVE_INFINITY);
    }
    await sleep(1000);
  }
  return out;
}

/**
 * Publishes a state change of FLEET-PROBE every `everyMs` and polls /v1/instruments/FLEET-PROBE
 * until the API shows it: publish-to-API-visible latency, in ms (Infinity: not seen within 30 s).
 */
async function probeApi(
  mqttPort: number,
  httpPort: number,
  everyMs: number,
  running: () => boolean,
): Promise<number[]> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    clientId: PROBE.username,
    username: PROBE.username,
    password: PROBE.password,
    reconnectPeriod: 1000,
  });
  const out: number[] = [];
  let seq = Date.now();
  let state: 'idle' | 'running' = 'idle';
  try {
    while (running()) {
      state = state === 'idle' ? 'running' : 'idle';
      const ts = Date.now();
      const t = performance.now();
      client.publish(
        `dayi/v1/${PROBE.instrument}/state`,
        JSON.stringify({ ts, seq: seq++, state, since: ts }),
        {
          qos: 1,
        },
      );
      let seen = false;
      while (!seen && performance.now() - t < 30_000) {
        try {
          const r = await fetch(`http://127.0.0.1:${httpPort}/v1/instruments/${PROBE.instrument}`, {
            headers: { authorization: `Bearer ${API_KEY}` },
          });
          const body = (await r.json()) as { state?: string; stateSince?: string };
          // stateSince is ISO 8601 with the collector's offset: compared as a time
          if (body.state === state && Date.parse(body.stateSince ?? '') === ts) seen = true;
        } catch {
          // counted as not seen yet
        }
        if (!seen) await sleep(10);
      }
      out.push(seen ? performance.now() - t : Number.POSITIVE_INFINITY);
      await sleep(Math.max(0, everyMs - (performance.now() - t)));
    }
  } finally {
    await client.endAsync(true);
  }
  return out;
}

function latencySummary(xs: number[]) {
  const finite = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) =>
    finite.length ? finite[Math.min(finite.length - 1, Math.ceil(p * finite.length) - 1)]! : null;
  return {
    n: xs.length,
    failed: xs.length - finite.length,
    p50: round(q(0.5)),
    p99: round(q(0.99)),
    max: round(finite.at(-1) ?? null),
  };
}

function cpuShare(a: ProcSample | null, b: ProcSample | null): number | null {
  if (!a || !b || b.at <= a.at) return null;
  return (b.cpuTicks - a.cpuTicks) / TICKS / ((b.at - a.at) / 1000);
}

/** The collector's sources as committed at `ref`, beside this checkout's node_modules. */
function checkoutBase(ref: string, dir: string): string {
  const base = join(dir, 'base');
  mkdirSync(base);
  const tar = execFileSync(
    'git',
    ['-C', ROOT, 'archive', ref, 'bin', 'collector', 'protocols', 'package.json'],
    {
      maxBuffer: 256 * MIB,
    },
  );
  execFileSync('tar', ['-x', '-C', base], { input: tar });
  // This checkout's dependencies, but @dayi/* must resolve to the base's own workspaces: a link to
  // the whole node_modules made `collectorBase` run this checkout's collector (the workspace links
  // in node_modules/@dayi point back into ROOT).
  const modules = join(base, 'node_modules');
  mkdirSync(join(modules, '@dayi'), { recursive: true });
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== '@dayi') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  for (const name of readdirSync(join(ROOT, 'node_modules', '@dayi'))) {
    const own = join(base, name);
    symlinkSync(
      existsSync(own) ? own : join(ROOT, 'node_modules', '@dayi', name),
      join(modules, '@dayi', name),
    );
  }
  return base;
}

async function runTarget(o: FleetOptions, named: string, targetIndex: number, dir: string) {
  const mqttPort = await freePort();
  const httpPort = await freePort();
  // `collector@MALLOC_ARENA_MAX=2`: the target with one more variable in its environment
  const [target = named, assignment] = named.split('@');
  const extra: Record<string, string> = {};
  if (assignment) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new Error(`--targets ${named}: expected NAME@KEY=VALUE`);
    extra[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  if (!['collector', 'collectorBase', 'aedes'].includes(target))
    throw new Error(`--targets ${named}: use collector, collectorBase or aedes (optionally @KEY=VALUE)`);
  const env = { ...process.env, ...o.env, ...extra };
  const broker =
    target !== 'aedes'
      ? spawn(
          NODE,
          [
            ...o.nodeArgs,
            join(target === 'collectorBase' ? checkoutBase(o.base ?? 'HEAD', dir) : ROOT, 'bin/dayi.js'),
            'collector',
            '-c',
            collectorConfig(o, dir, mqttPort, httpPort),
          ],
          { stdio: ['ignore', 'ignore', 'inherit'], env },
        )
      : spawn(NODE, [join(ROOT, 'bench/aedes-broker.ts'), String(mqttPort)], { stdio: 'inherit', env });
  const procs: LoadProc[] = [];
  try {
    await waitForBroker(mqttPort, broker, target);
    const pid = broker.pid!;
    const startedRss = sampleProc(pid)?.rssBytes ?? 0;
    for (let p = 0; p < o.procs; p++) procs.push(forkLoad());
    await Promise.all(procs.map((lp) => lp.on('ready')));
    // connect storm: every load process connects its share at once (a window of CONNECTs in flight)
    const per = Math.ceil(o.sessions / o.procs);
    const stormStart = performance.now();
    const connected = procs.map((lp, p) => {
      const done = lp.on('connected');
      lp.child.send({
        type: 'connect',
        port: mqttPort,
        host: '127.0.0.1',
        // its own loopback source address per process and target: 16,000 ports each, no clash
        localAddress: `127.0.${10 + targetIndex}.${1 + p}`,
        from: p * per,
        to: Math.min(o.sessions, (p + 1) * per),
        window: o.window,
      });
      return done;
    });
    const storm = await Promise.all(connected);
    const stormSeconds = (performance.now() - stormStart) / 1000;
    const ok = storm.reduce((n, m) => n + (m.ok as number), 0);
    const failedConnects = storm.reduce((n, m) => n + (m.failed as number), 0);
    const retries = storm.reduce((n, m) => n + (m.retries as number), 0);
    const errors: Record<string, number> = {};
    for (const m of storm)
      for (const [k, v] of Object.entries(m.errors as Record<string, number>))
        errors[k] = (errors[k] ?? 0) + v;
    // idle with every session registered: memory, and the CPU the broker burns with no traffic
    const idleFrom = sampleProc(pid);
    await sleep(5000);
    const idle = sampleProc(pid);
    const phases = [];
    let offeredBefore = 0;
    let ackedBefore = 0;
    for (const rate of o.rates) {
      const intervals: IntervalAgg[] = [];
      for (const lp of procs) {
        (lp as unknown as { listeners: ((m: Record<string, unknown>) => void)[] }).listeners.length = 0;
        (lp as unknown as { listeners: ((m: Record<string, unknown>) => void)[] }).listeners.push((m) => {
          if (m.type !== 'interval') return;
          const i = m.index as number;
          intervals[i] ??= { offered: 0, acked: 0, hist: new Map(), reports: 0 };
          const agg = intervals[i]!;
          agg.offered += m.offered as number;
          agg.acked += m.acked as number;
          merge(agg.hist, m.hist as [number, number][]);
          agg.reports++;
        });
      }
      const samples: ProcSample[] = [];
      let sending = true;
      const first = sampleProc(pid);
      if (first) samples.push(first);
      const sampler = setInterval(() => {
        const s = sampleProc(pid);
        if (s) samples.push(s);
      }, o.intervalS * 1000);
      const health = target !== 'aedes' ? pollHealth(httpPort, () => sending) : Promise.resolve([]);
      const api =
        target !== 'aedes'
          ? probeApi(mqttPort, httpPort, o.probeEveryMs, () => sending)
          : Promise.resolve([]);
      const done = procs.map((lp) => lp.on('done'));
      for (const lp of procs) {
        lp.child.send({
          type: 'run',
          rate: rate / o.procs,
          durationMs: o.durationS * 1000,
          intervalMs: o.intervalS * 1000,
          drainMs: o.drainS * 1000,
        });
      }
      await sleep(o.durationS * 1000);
      const last = sampleProc(pid);
      if (last) samples.push(last);
      clearInterval(sampler);
      sending = false;
      const totals = await Promise.all(done);
      const [healthMs, apiMs] = await Promise.all([health, api]);
      const all: Hist = new Map();
      for (const i of intervals) if (i) merge(all, i.hist);
      const offered = totals.reduce((n, m) => n + (m.offered as number), 0);
      const acked = totals.reduce((n, m) => n + (m.acked as number), 0);
      // each phase's totals are cumulative in the load processes: take this phase's share
      const phaseOffered = offered - offeredBefore;
      const phaseAcked = acked - ackedBefore;
      offeredBefore = offered;
      ackedBefore = acked;
      const cpu = cpuShare(samples[0] ?? null, samples.at(-1) ?? null);
      // steady: from the second interval on (the first holds the ramp)
      const steady = cpuShare(samples[1] ?? null, samples.at(-1) ?? null);
      const rss = samples.map((s) => s.rssBytes / MIB);
      phases.push({
        rate,
        totals: {
          offered: phaseOffered,
          acked: phaseAcked,
          unacked: phaseOffered - phaseAcked,
          disconnected: totals.reduce((n, m) => n + (m.disconnected as number), 0),
          drainSeconds: round(Math.max(...totals.map((m) => m.drainMs as number)) / 1000, 2),
        },
        puback: {
          p50: quantile(all, 0.5),
          p99: quantile(all, 0.99),
          max: quantile(all, 1),
          n: count(all),
        },
        apiVisibleMs: target !== 'aedes' ? latencySummary(apiMs) : null,
        healthzMs: target !== 'aedes' ? latencySummary(healthMs) : null,
        cpu: {
          share: round(cpu, 3),
          steadyShare: round(steady, 3),
          msPer1000: cpu === null ? null : round((cpu * o.durationS * 1e6) / Math.max(1, phaseAcked), 1),
          maxIntervalShare: round(
            Math.max(...samples.slice(1).map((s, i) => cpuShare(samples[i]!, s) ?? 0)),
            3,
          ),
        },
        rssMiB: { steadyMedian: round(median(rss)), max: round(Math.max(...rss)) },
        intervals: intervals.map((i, k) => ({
          t: (k + 1) * o.intervalS,
          offeredPerS: Math.round(i.offered / o.intervalS),
          ackedPerS: Math.round(i.acked / o.intervalS),
          pubackP50: quantile(i.hist, 0.5),
          pubackP99: quantile(i.hist, 0.99),
          cpuShare: round(cpuShare(samples[k] ?? null, samples[k + 1] ?? null), 3),
          rssMiB: round((samples[k + 1]?.rssBytes ?? Number.NaN) / MIB),
        })),
      });
    }
    return {
      idleCpuShare: round(cpuShare(idleFrom, idle), 3),
      connectStorm: {
        sessions: o.sessions,
        connected: ok,
        failed: failedConnects,
        // connections closed before their CONNACK and tried again (an agent retries too), by error
        retries,
        errors,
        seconds: round(stormSeconds, 2),
        connectsPerSecond: Math.round(ok / stormSeconds),
      },
      rssMiB: {
        started: round(startedRss / MIB),
        idleWithSessions: round((idle?.rssBytes ?? Number.NaN) / MIB),
        idleAnon: round((idle?.rssAnonBytes ?? Number.NaN) / MIB),
        peakHwm: round((peakRss(pid) ?? Number.NaN) / MIB),
      },
      phases,
    };
  } finally {
    for (const lp of procs) {
      if (lp.child.connected) lp.child.send({ type: 'close' });
    }
    await Promise.all(
      procs.map(
        (lp) => new Promise((r) => (lp.child.exitCode !== null ? r(null) : lp.child.once('exit', r))),
      ),
    );
    broker.kill('SIGTERM');
    await new Promise((r) => (broker.exitCode !== null ? r(null) : broker.once('exit', r)));
  }
}

export async function runFleetBench(o: FleetOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-fleet-'));
  const load = loadavg();
  const results: Record<string, Awaited<ReturnType<typeof runTarget>>> = {};
  try {
    for (const [i, t] of o.targets.entries()) results[t] = await runTarget(o, t, i, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio: Record<string, number | null> = {};
  const c = results.collector;
  const a = results.aedes;
  const b = results.collectorBase;
  if (c && b) {
    for (const [k, ph] of c.phases.entries()) {
      const base = b.phases[k];
      if (base?.cpu.msPer1000 && ph.cpu.msPer1000)
        ratio[`cpuPerMessageCollectorVsBase@${ph.rate}`] = round(ph.cpu.msPer1000 / base.cpu.msPer1000, 2);
    }
  }
  if (c && a) {
    ratio.connectsPerSecondCollectorVsAedes = round(
      c.connectStorm.connectsPerSecond / a.connectStorm.connectsPerSecond,
      3,
    );
    for (const [k, ph] of c.phases.entries()) {
      const base = a.phases[k];
      if (base?.cpu.msPer1000 && ph.cpu.msPer1000)
        ratio[`cpuPerMessageCollectorVsAedes@${ph.rate}`] = round(ph.cpu.msPer1000 / base.cpu.msPer1000, 2);
    }
  }
  return {
    bench: 'fleet',
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: round(totalmem() / 2 ** 30) },
    loadAverageAtStart: load.map((x) => round(x, 2)),
    loadAverageAtEnd: loadavg().map((x) => round(x, 2)),
    options: o,
    note: 'PUBACK latency measured by the load processes from write to PUBACK; the collector acknowledges after the SQLite COMMIT, bare Aedes at once (no subscriber). CPU: the broker process, all threads, from /proc; msPer1000 = CPU ms per 1,000 acknowledged messages. apiVisibleMs: a state message published, then /v1/instruments/{id} polled every 10 ms until it shows it.',
    results,
    ratio,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '16000' },
      rate: { type: 'string', default: '1600' },
      duration: { type: 'string', default: '60' },
      interval: { type: 'string', default: '5' },
      procs: { type: 'string' },
      targets: { type: 'string', default: 'collector,aedes' },
      drain: { type: 'string', default: '30' },
      window: { type: 'string', default: '512' },
      env: { type: 'string', multiple: true },
      'node-arg': { type: 'string', multiple: true },
      'probe-every': { type: 'string', default: '2000' },
      base: { type: 'string' },
    },
  });
  const sessions = Number(values.sessions);
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--env ${kv}: expected KEY=VALUE`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const result = await runFleetBench({
    sessions,
    rates: values.rate.split(',').map(Number),
    durationS: Number(values.duration),
    intervalS: Number(values.interval),
    // these machines cap open files at 20,000 per process: at most 8,000 sessions a process
    procs: values.procs ? Number(values.procs) : Math.max(2, Math.ceil(sessions / 8000)),
    targets: values.targets.split(','),
    drainS: Number(values.drain),
    window: Number(values.window),
    env,
    nodeArgs: values['node-arg'] ?? [],
    probeEveryMs: Number(values['probe-every']),
    ...(values.base ? { base: values.base } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
}
