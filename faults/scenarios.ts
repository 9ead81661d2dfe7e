/**
 * The fault scenarios of issue 13: each counts every message from sent to acknowledged to stored
 * and returns sent / acknowledged / stored / lost / duplicates. `npm run faults` (faults/run.ts)
 * runs them with the figures of docs/reliability.md; test/faults.test.ts with small ones.
 *
 * Only loopback and network namespaces this process makes are talked to.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  type Collector,
  Fleet,
  fleetCreds,
  freePort,
  getJson,
  percentiles,
  ROOT,
  sleep,
  startCollector,
  type Tally,
  tally,
  waitFor,
  writeCollectorConfig,
} from './harness.ts';

export interface ScenarioResult extends Partial<Tally> {
  scenario: string;
  ok: boolean;
  seconds: number;
  [k: string]: unknown;
}

const log = (s: string) => process.stderr.write(`[faults] ${s}\n`);

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-faults-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function verdict(t: Tally): boolean {
  return t.lost === 0 && t.duplicates === 0 && t.acknowledged === t.sent;
}

// --- kill -9 --------------------------------------------------------------------------------------

export interface KillOptions {
  agents: number;
  perSecond: number;
  /** Load before the kill, and after the restart. */
  seconds: number;
  /** How long the collector stays dead. */
  downMs: number;
}

/** `kill -9` of the collector in the middle of load from many agents, then a restart on the same store. */
export async function killScenario(o: KillOptions): Promise<ScenarioResult> {
  return withDir(async (dir) => {
    const t0 = performance.now();
    const creds = fleetCreds(o.agents, 'K');
    const setup = {
      dir,
      store: join(dir, 'dayi.sqlite'),
      httpPort: await freePort(),
      mqttPort: await freePort(),
      agents: creds,
    };
    const config = writeCollectorConfig(setup);
    let collector: Collector = await startCollector(config);
    const fleet = new Fleet(creds, `mqtt://127.0.0.1:${setup.mqttPort}`);
    try {
      await waitFor('every agent connected', () => fleet.connected === o.agents, 60_000);
      fleet.startSending(o.perSecond);
      await sleep(o.seconds * 500);
      const atKill = { sent: fleet.sent, acknowledged: fleet.acked };
      log(`kill -9 at ${atKill.sent} sent, ${atKill.acknowledged} acknowledged`);
      await collector.stop('SIGKILL');
      await sleep(o.downMs);
      collector = await startCollector(config);
      const restartedAt = Date.now();
      await waitFor('every agent back', () => fleet.connected === o.agents, 120_000);
      const backMs = Date.now() - restartedAt;
      await sleep(o.seconds * 500);
      fleet.stopSending();
      await fleet.drain(120_000);
      await collector.stop('SIGTERM');
      const t = tally(fleet, setup.store);
      return {
        scenario: 'kill9',
        ...t,
        ok: verdict(t),
        atKill,
        agentsBackMs: backMs,
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      await fleet.end();
      await collector.stop('SIGKILL');
    }
  });
}

// --- restart while many agents reconnect -------------------------------------------------------

export interface ReconnectOptions {
  agents: number;
  /** Messages a second per agent (low: the reconnect storm is the point). */
  perSecond: number;
  seconds: number;
}

/** A collector restart (SIGTERM, start) while many agents hold sessions: time until all are back. */
export async function reconnectScenario(o: ReconnectOptions): Promise<ScenarioResult> {
  return withDir(async (dir) => {
    const t0 = performance.now();
    const creds = fleetCreds(o.agents, 'R');
    const setup = {
      dir,
      store: join(dir, 'dayi.sqlite'),
      httpPort: await freePort(),
      mqttPort: await freePort(),
      agents: creds,
    };
    const config = writeCollectorConfig(setup);
    let collector = await startCollector(config);
    const fleet = new Fleet(creds, `mqtt://127.0.0.1:${setup.mqttPort}`);
    try {
      const c0 = Date.now();
      await waitFor('every agent connected', () => fleet.connected === o.agents, 120_000);
      const firstConnectMs = Date.now() - c0;
      fleet.startSending(o.perSecond);
      await sleep(o.seconds * 500);
      const stopAt = Date.now();
      await collector.stop('SIGTERM');
      const stoppedMs = Date.now() - stopAt;
      collector = await startCollector(config);
      const readyAt = Date.now();
      let half = 0;
      await waitFor(
        'every agent back',
        () => {
          if (!half && fleet.connected * 2 >= o.agents) half = Date.now() - readyAt;
          return fleet.connected === o.agents;
        },
        300_000,
      );
      const allBackMs = Date.now() - readyAt;
      const health = await getJson(`${collector.baseUrl}/healthz`);
      await sleep(o.seconds * 500);
      fleet.stopSending();
      await fleet.drain(120_000);
      await collector.stop('SIGTERM');
      const t = tally(fleet, setup.store);
      return {
        scenario: 'reconnect',
        ...t,
        ok: verdict(t),
        agents: o.agents,
        firstConnectMs,
        gracefulStopMs: stoppedMs,
        halfBackMs: half,
        allBackMs,
        healthzAfterMs: Math.round(health.ms),
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      await fleet.end();
      await collector.stop('SIGKILL');
    }
  });
}

// --- rederive while data flows -------------------------------------------------------------------

export interface RederiveOptions {
  agents: number;
  perSecond: number;
  /** Messages to have in the ledger before the rederive (sent as fast as the window allows). */
  history: number;
  /** Load measured before the rederive (the usual latency), in seconds. */
  baselineSeconds: number;
}

/** `dayi collector rederive` beside the running collector while the agents keep sending. */
export async function rederiveScenario(o: RederiveOptions): Promise<ScenarioResult> {
  return withDir(async (dir) => {
    const t0 = performance.now();
    const creds = fleetCreds(o.agents, 'D');
    const setup = {
      dir,
      store: join(dir, 'dayi.sqlite'),
      httpPort: await freePort(),
      mqttPort: await freePort(),
      agents: creds,
    };
    const config = writeCollectorConfig(setup);
    const collector = await startCollector(config);
    const fleet = new Fleet(creds, `mqtt://127.0.0.1:${setup.mqttPort}`, 16);
    try {
      await waitFor('every agent connected', () => fleet.connected === o.agents, 60_000);
      // The history: as fast as the window allows.
      const fill = setInterval(() => {
        for (const a of fleet.agents) while (fleet.sent < o.history && a.sendNext());
      }, 5);
      await waitFor('the history sent', () => fleet.sent >= o.history, 600_000);
      clearInterval(fill);
      await fleet.drain(120_000);
      log(`history of ${fleet.acked} messages in the ledger`);
      fleet.startSending(o.perSecond);
      const baseFrom = Date.now() + 500;
      await sleep(o.baselineSeconds * 1000);
      const rStart = Date.now();
      // A child process, as an operator runs it: this process keeps sending and timing the PUBACKs.
      const out = await runChild(process.execPath, [
        join(ROOT, 'bin/dayi.js'),
        'collector',
        'rederive',
        '-c',
        config,
      ]);
      const rEnd = Date.now();
      log(`rederive: ${out.trim()} in ${rEnd - rStart} ms`);
      await sleep(Math.max(1000, o.baselineSeconds * 500));
      fleet.stopSending();
      await fleet.drain(120_000);
      await collector.stop('SIGTERM');
      const t = tally(fleet, setup.store);
      return {
        scenario: 'rederive',
        ...t,
        ok: verdict(t),
        rederive: { ms: rEnd - rStart, output: out.trim() },
        ackLatencyMs: {
          before: percentiles(fleet.latencies(baseFrom, rStart)),
          during: percentiles(fleet.latencies(rStart, rEnd + 200)),
          after: percentiles(fleet.latencies(rEnd + 200)),
        },
        acknowledgedDuring: fleet.latencies(rStart, rEnd).length,
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      await fleet.end();
      await collector.stop('SIGKILL');
    }
  });
}

// --- disk full --------------------------------------------------------------------------------------

export interface DiskFullOptions {
  agents: number;
  perSecond: number;
  /** tmpfs size while full, and after space returns. */
  sizeMiB: number;
  grownMiB: number;
  /** Time to stay full before space returns. */
  fullSeconds: number;
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0)
    throw new Error(`${what} needs root (CAP_SYS_ADMIN / CAP_NET_ADMIN): run as root, as CI does`);
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The disk under the store fills (a small tmpfs): no PUBACK, /healthz and the log say why; space returns, nothing lost. */
export async function diskFullScenario(o: DiskFullOptions): Promise<ScenarioResult> {
  requireRoot('the disk-full scenario (mount -t tmpfs)');
  return withDir(async (dir) => {
    const t0 = performance.now();
    const mnt = join(dir, 'store');
    mkdirSync(mnt);
    try {
      run('mount', ['-t', 'tmpfs', '-o', `size=${o.sizeMiB}m,mode=0700`, 'dayi-faults', mnt]);
    } catch (err) {
      throw new Error(
        `the disk-full scenario could not mount a tmpfs (needs root): ${(err as Error).message}`,
      );
    }
    let collector: Collector | null = null;
    let fleet: Fleet | null = null;
    try {
      const creds = fleetCreds(o.agents, 'S');
      const setup = {
        dir,
        store: join(mnt, 'dayi.sqlite'),
        httpPort: await freePort(),
        mqttPort: await freePort(),
        agents: creds,
      };
      const config = writeCollectorConfig(setup);
      const logFile = join(dir, 'collector.log');
      collector = await startCollector(config, logFile);
      fleet = new Fleet(creds, `mqtt://127.0.0.1:${setup.mqttPort}`);
      const f = fleet;
      await waitFor('every agent connected', () => f.connected === o.agents, 60_000);
      f.startSending(o.perSecond);
      const c = collector;
      let health: { status: number; body: unknown } = { status: 0, body: null };
      await waitFor(
        '/healthz to report the store failing',
        async () => {
          health = await getJson(`${c.baseUrl}/healthz`);
          return health.status === 503;
        },
        300_000,
      );
      const fullAt = { sent: f.sent, acknowledged: f.acked };
      log(`store full at ${fullAt.acknowledged} acknowledged: ${JSON.stringify(health.body)}`);
      const ackedAtFull = f.acked;
      await sleep(o.fullSeconds * 1000);
      const ackedWhileFull = f.acked - ackedAtFull;
      run('mount', ['-o', `remount,size=${o.grownMiB}m`, mnt]);
      log('space returned');
      let healthAfter: { status: number; body: unknown } = { status: 0, body: null };
      await waitFor(
        '/healthz ok again',
        async () => {
          healthAfter = await getJson(`${c.baseUrl}/healthz`);
          return healthAfter.status === 200;
        },
        120_000,
      );
      await sleep(1000);
      f.stopSending();
      await f.drain(180_000);
      await collector.stop('SIGTERM');
      const out = collector.output();
      const t = tally(f, setup.store);
      const logSaid = out.split('\n').find((l) => l.includes('store refuses writes')) ?? null;
      const logResumed = out.split('\n').some((l) => l.includes('store accepts writes again'));
      return {
        scenario: 'disk-full',
        ...t,
        ok: verdict(t) && logSaid !== null && logResumed,
        fullAt,
        acknowledgedWhileFull: ackedWhileFull,
        healthzWhileFull: health.body,
        healthzAfter: healthAfter.body,
        logLine: logSaid ? (JSON.parse(logSaid) as { msg: string }).msg : null,
        logResumed,
        collectorAlive: collector.child.exitCode === 0 || collector.child.signalCode === null,
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      await fleet?.end();
      await collector?.stop('SIGKILL');
      try {
        run('umount', ['-l', mnt]);
      } catch {}
    }
  });
}

// --- InfluxDB stopped ----------------------------------------------------------------------------------

export interface InfluxOptions {
  agents: number;
  perSecond: number;
  seconds: number;
  downSeconds: number;
}

/** InfluxDB stopped while data flows, then started again: every telemetry message is one point. */
export async function influxScenario(o: InfluxOptions): Promise<ScenarioResult> {
  const { startInfluxd } = await import('../collector/test/helpers/influxd.ts');
  return withDir(async (dir) => {
    const t0 = performance.now();
    const influx = await startInfluxd();
    const creds = fleetCreds(o.agents, 'I');
    const setup = {
      dir,
      store: join(dir, 'dayi.sqlite'),
      httpPort: await freePort(),
      mqttPort: await freePort(),
      agents: creds,
      extra: {
        influx: {
          url: influx.url,
          database: 'dayi',
          flushEvery: '200ms',
          maxRetryDelay: '2s',
          timeout: '5s',
        },
      },
    };
    const config = writeCollectorConfig(setup);
    const collector = await startCollector(config);
    const fleet = new Fleet(creds, `mqtt://127.0.0.1:${setup.mqttPort}`);
    try {
      await waitFor('every agent connected', () => fleet.connected === o.agents, 60_000);
      fleet.startSending(o.perSecond);
      await sleep(o.seconds * 500);
      await influx.stop();
      const stoppedAt = fleet.acked;
      log(`influxd stopped at ${stoppedAt} acknowledged`);
      await sleep(o.downSeconds * 1000);
      const ackedWhileDown = fleet.acked - stoppedAt;
      const healthDown = await getJson(`${collector.baseUrl}/healthz`);
      await influx.start();
      log('influxd started again');
      await sleep(o.seconds * 500);
      fleet.stopSending();
      await fleet.drain(120_000);
      const t = tally(fleet, setup.store);
      const points = async () => {
        const series = await influx.query('SELECT count(seq) FROM telemetry', 'dayi').catch(() => []);
        return Number(series[0]?.values[0]?.[1] ?? 0);
      };
      let n = 0;
      await waitFor(
        'InfluxDB to hold every stored telemetry message',
        async () => {
          n = await points();
          return n >= t.stored;
        },
        180_000,
      );
      await sleep(1500);
      n = await points();
      await collector.stop('SIGTERM');
      return {
        scenario: 'influx-down',
        ...t,
        influxPoints: n,
        ok: verdict(t) && n === t.stored,
        acknowledgedWhileInfluxDown: ackedWhileDown,
        healthzWhileDown: healthDown.body,
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      await fleet.end();
      await collector.stop('SIGKILL');
      await influx.close();
    }
  });
}

// --- an agent cut off from the network ----------------------------------------------------------------

export interface PartitionOptions {
  /** Telemetry period of the agent. */
  publishEveryMs: number;
  /** Before the cut: with netem delay and loss. */
  lossySeconds: number;
  cutSeconds: number;
  delayMs: number;
  lossPercent: number;
}

const NETNS_PREFIX = 'dayi-fault-';

/** Removes namespaces a crashed run of ours left (its pid is gone). */
function sweepStaleNamespaces(): void {
  let list = '';
  try {
    list = run('ip', ['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)$`).exec(name);
    if (m && !existsSync(`/proc/${m[1]}`)) {
      try {
        run('ip', ['netns', 'del', name]);
      } catch {}
    }
  }
}

/**
 * A real `dayi agent` (disk outbox) in its own network namespace, linked to the collector by a veth
 * pair: first with `tc netem` delay and loss, then cut off (the link down) for a while, then back.
 * Its outbox replays; the collector holds every seq from 1 to the last, no gap.
 */
export async function partitionScenario(o: PartitionOptions): Promise<ScenarioResult> {
  requireRoot('the network-partition scenario (ip netns, tc netem)');
  sweepStaleNamespaces();
  const ns = `${NETNS_PREFIX}${process.pid}`;
  // Per-process /30 in 10.213.0.0/16: 10.213.x.y, never routed off this machine (the link is ours).
  const third = process.pid % 250;
  const hostIp = `10.213.${third}.1`;
  const nsIp = `10.213.${third}.2`;
  const vh = `dfh${process.pid % 100000}`;
  const vn = `dfn${process.pid % 100000}`;
  return withDir(async (dir) => {
    const t0 = performance.now();
    let collector: Collector | null = null;
    let agent: ChildProcess | null = null;
    try {
      try {
        run('ip', ['netns', 'add', ns]);
      } catch (err) {
        throw new Error(
          `the partition scenario could not make a network namespace (needs root): ${(err as Error).message}`,
        );
      }
      run('ip', ['link', 'add', vh, 'type', 'veth', 'peer', 'name', vn]);
      run('ip', ['link', 'set', vn, 'netns', ns]);
      run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', vh]);
      run('ip', ['link', 'set', vh, 'up']);
      run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', vn]);
      run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vn, 'up']);
      run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      const impairment = impair(ns, vh, vn, o);
      log(`impairment: ${impairment}`);

      const creds = fleetCreds(1, 'P');
      const a = creds[0]!;
      const mqttPort = await freePort();
      const setup = {
        dir,
        store: join(dir, 'dayi.sqlite'),
        httpPort: await freePort(),
        mqttPort,
        // The broker listens on the host end of the veth pair only.
        mqttHost: hostIp,
        agents: creds,
      };
      collector = await startCollector(writeCollectorConfig(setup));
      const outbox = join(dir, 'outbox');
      const agentYaml = join(dir, 'agent.yaml');
      writeFileSync(
        agentYaml,
        `agent: { id: fault-agent }
mqtt: { url: "mqtt://${hostIp}:${mqttPort}", username: ${a.username}, password: "\${DAYI_AGENT_PW}", keepalive: 5s, reconnect: { min: 500ms, max: 2s } }
outbox: { dir: "${outbox}" }
log: { level: info }
instruments:
  - id: ${a.instrument}
    publishEvery: ${o.publishEveryMs}ms
    inputs: [ { type: simulated, pattern: constant, every: ${o.publishEveryMs}ms } ]
`,
        { mode: 0o600 },
      );
      const agentLog = join(dir, 'agent.log');
      writeFileSync(agentLog, '');
      agent = spawn(
        'ip',
        ['netns', 'exec', ns, process.execPath, join(ROOT, 'bin/dayi.js'), 'agent', '-c', agentYaml],
        { cwd: ROOT, env: { ...process.env, DAYI_AGENT_PW: a.password }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const append = (d: Buffer) => writeFileSync(agentLog, d, { flag: 'a' });
      agent.stdout?.on('data', append);
      agent.stderr?.on('data', append);
      const stored = () => telemetrySeqs(setup.store, a.instrument);
      await waitFor('the agent publishing through the veth pair', () => stored().length > 0, 60_000);
      if (impairment.startsWith('tbf')) await flap(vh, o.lossySeconds * 1000);
      else await sleep(o.lossySeconds * 1000);
      const beforeCut = stored().length;
      run('ip', ['link', 'set', vh, 'down']);
      log(`link cut at ${beforeCut} stored`);
      await sleep(o.cutSeconds * 1000);
      const duringCut = stored().length - beforeCut;
      const backlog = pendingOf(join(outbox, a.instrument));
      run('ip', ['link', 'set', vh, 'up']);
      const upAt = Date.now();
      log(`link back; ${backlog} messages in the outbox`);
      // Back: the outbox drains (the agent's status file shows pending 0 and seq caught up).
      await waitFor(
        'the outbox replayed',
        () => {
          const s = stored();
          return (
            s.length > beforeCut &&
            pendingOf(join(outbox, a.instrument)) === 0 &&
            s.length === (s.at(-1) ?? 0)
          );
        },
        180_000,
      );
      const replayMs = Date.now() - upAt;
      await stopProcess(agent, 'SIGTERM');
      await sleep(500);
      const seqs = stored();
      const sent = lastSeq(join(outbox, a.instrument));
      const pending = pendingOf(join(outbox, a.instrument));
      const unique = new Set(seqs);
      const gaps: number[] = [];
      for (let s = 1; s <= sent; s++) if (!unique.has(s)) gaps.push(s);
      const t: Tally = {
        sent,
        acknowledged: sent - pending,
        stored: unique.size,
        lost: gaps.length - pending,
        duplicates: seqs.length - unique.size,
        storedUnacknowledged: 0,
      };
      await collector.stop('SIGTERM');
      return {
        scenario: 'partition',
        ...t,
        ok: t.lost === 0 && t.duplicates === 0 && gaps.length === pending,
        seqGaps: gaps.length,
        storedDuringCut: duringCut,
        outboxAtReconnect: backlog,
        replayMs,
        impairment,
        seconds: (performance.now() - t0) / 1000,
        options: o,
      };
    } finally {
      if (agent) await stopProcess(agent, 'SIGKILL');
      await collector?.stop('SIGKILL');
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {}
      try {
        run('ip', ['link', 'del', vh]);
      } catch {}
    }
  });
}

/**
 * Delay and loss on both ends of the veth pair with `tc netem`. A kernel without sch_netem (this
 * project's build machine: "Specified qdisc kind is unknown") gets what it has instead, said so in
 * the result: a token bucket (`tbf`, a slow link whose queue adds latency) and short link flaps
 * (losses in bursts) made by flap().
 */
function impair(ns: string, vh: string, vn: string, o: PartitionOptions): string {
  const netem = ['netem', 'delay', `${o.delayMs}ms`, 'loss', `${o.lossPercent}%`];
  try {
    run('tc', ['qdisc', 'add', 'dev', vh, 'root', ...netem]);
    run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', vn, 'root', ...netem]);
    return `netem delay ${o.delayMs}ms loss ${o.lossPercent}%`;
  } catch (err) {
    if (!/unknown/i.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
  }
  const tbf = ['tbf', 'rate', '256kbit', 'burst', '16kbit', 'latency', `${Math.max(50, o.delayMs * 4)}ms`];
  run('tc', ['qdisc', 'add', 'dev', vh, 'root', ...tbf]);
  run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', vn, 'root', ...tbf]);
  return `tbf rate 256kbit latency ${Math.max(50, o.delayMs * 4)}ms and link flaps (down 300 ms every 1.5 s): this kernel has no netem`;
}

/** Takes the link down for 300 ms every 1.5 s, for `ms`: losses in bursts, without netem. */
async function flap(dev: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await sleep(1200);
    run('ip', ['link', 'set', dev, 'down']);
    await sleep(300);
    run('ip', ['link', 'set', dev, 'up']);
  }
}

function telemetrySeqs(store: string, instrument: string): number[] {
  if (!existsSync(store)) return [];
  const db = new DatabaseSync(store, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    return (
      db
        .prepare("SELECT seq FROM messages WHERE instrument_id = ? AND kind = 'telemetry' ORDER BY seq")
        .all(instrument) as { seq: number }[]
    ).map((r) => r.seq);
  } finally {
    db.close();
  }
}

/** The agent's own status file says how many messages wait in its outbox. */
function pendingOf(outboxDir: string): number {
  try {
    const s = JSON.parse(readFileSync(join(outboxDir, 'status.json'), 'utf8')) as {
      outbox?: { pending?: number };
    };
    return s.outbox?.pending ?? -1;
  } catch {
    return -1;
  }
}

/** The last telemetry seq the agent handed out (meta.json of its outbox). */
function lastSeq(outboxDir: string): number {
  const m = JSON.parse(readFileSync(join(outboxDir, 'meta.json'), 'utf8')) as { seq: { telemetry: number } };
  return m.seq.telemetry;
}

function runChild(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)),
    );
  });
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
