/**
 * bench/agent: the edge agent's resident memory and CPU with 3 inputs polled at 1 Hz, run exactly as
 * the installed service runs it (agent/src/service/node-flags.ts: the same Node, flags, environment
 * and entry, i.e. the bundle agent/dist/dayi-agent.mjs), for `--duration` (default 10 minutes, the
 * issue's figure) after a warm-up. The goal: under 60 MB and under 1 % of one core.
 *
 * Peers on loopback (bench/agent-peers.ts), only those the inputs need: Mosquitto, an SDM630 on
 * Modbus TCP, an SDM120 on Modbus RTU through a socat pty pair, a DTSU666 at unit 2 behind a Modbus
 * TCP gateway (issue 3's reference agent, the default), and an OPC UA server (`--inputs …,opcua`).
 * One instrument per input, state classification on, telemetry every `--publish-every`. An idle Node
 * process (`setInterval`, same flags and environment) is sampled the same way in the same run as
 * the baseline: what Node alone costs on this machine.
 * A subscriber counts the telemetry per instrument, and the Modbus devices count the requests they
 * served, to show the agent was really working.
 *
 * Prints one JSON object on stdout; progress goes to stderr.
 *   npm run bench -- agent [--duration 10m] [--every 1s] [--publish-every 10s] [--warmup 30s]
 *                          [--sample-every 5s] [--node-arg=--cpu-prof --node-arg=--cpu-prof-dir=DIR]
 *                          [--inputs sdm630,sdm120,dtsu666,opcua] [--entry agent/dist/dayi-agent.mjs]
 *                          [--env NAME=VALUE | --env NAME]  (set, or remove, a service variable)
 *   Without --node-arg the agent gets the installed service's flags; without --entry, its entry
 *   (the bundle, which must be current: `npm run build:agent`; --entry bin/dayi.js runs the sources).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { decodePayload, parseDuration, TOPIC_KINDS, type TopicKind } from '@dayi/protocols';
import mqtt from 'mqtt';
import { staleBundleReason } from '../agent/src/bundle-check.ts';
import {
  AGENT_NODE_FLAGS,
  AGENT_SERVICE_ENV,
  SOURCE_NODE_FLAGS,
  serviceEntry,
} from '../agent/src/service/node-flags.ts';
import { AGENT_USER, DTSU666_UNIT, type Peers, startPeers } from './agent-peers.ts';
import { clockTicks, type ProcSample, peakRss, sampleProc, summarize } from './agent-procfs.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const NODE = process.execPath;
/** Issue 3's goal: under 60 MB (decimal: 57.2 MiB) of RSS and under 1 % of one core. */
const GOAL = { rssMB: 60, cpuShare: 0.01 };
const MB_PER_MIB = 1.048576;
const IDS = {
  sdm630: 'BENCH-SDM630-0001',
  sdm120: 'BENCH-SDM120-0002',
  dtsu666: 'BENCH-DTSU666-0003',
  opcua: 'BENCH-OPCUA-0004',
};
/** Issue 3's reference agent: an SDM630 over Modbus TCP, an SDM120 over RTU, a DTSU666 behind a TCP gateway. */
export const REFERENCE_INPUTS: readonly InputName[] = ['sdm630', 'sdm120', 'dtsu666'];

export interface AgentBenchOptions {
  duration: number;
  every: number;
  publishEvery: number;
  warmup: number;
  sampleEvery: number;
  /** Extra arguments for the agent's node (e.g. --cpu-prof), before the script. */
  nodeArgs: string[];
  /** Which inputs the agent runs (issue 3's reference three by default), to see what each costs. */
  inputs: InputName[];
  /** The script and its arguments before `-c` (default: the service's, see serviceEntry). */
  entry: string[];
  /** The service's environment (AGENT_SERVICE_ENV) with these changes: a value sets, null removes. */
  envChanges: Record<string, string | null>;
}

const isTopicKind = (k: string | undefined): k is TopicKind =>
  (TOPIC_KINDS as readonly string[]).includes(k ?? '');
const progress = (s: string) => process.stderr.write(`[bench agent] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (x: number) => `${x}ms`;
/** 600000 -> 10m, 1000 -> 1s, 250 -> 250ms: durations as a user types them. */
const human = (x: number) =>
  x % 60_000 === 0 ? `${x / 60_000}m` : x % 1000 === 0 ? `${x / 1000}s` : `${x}ms`;

export type InputName = keyof typeof IDS;
const INPUT_NAMES = Object.keys(IDS) as InputName[];

export function agentYaml(
  peers: Peers,
  dir: string,
  o: Pick<AgentBenchOptions, 'every' | 'publishEvery' | 'inputs'>,
): string {
  const state = '{ signal: power_w, thresholds: { standby: 5, idle: 80, running: 400 } }';
  const inputs: Record<InputName, string> = {
    sdm630: `      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${peers.sdm630?.port}, profile: eastron-sdm630, every: ${ms(o.every)} }`,
    sdm120: `      - { type: modbus, transport: rtu, path: "${peers.pty?.port}", profile: eastron-sdm120, every: ${ms(o.every)} }`,
    dtsu666: `      - { type: modbus, transport: tcp, host: 127.0.0.1, port: ${peers.dtsu666?.port}, unitId: ${DTSU666_UNIT}, profile: chint-dtsu666, every: ${ms(o.every)} }`,
    opcua: `      - type: opcua
        endpoint: "${peers.opcua?.endpoint}"
        profile: opcua-machinery
        nodes: [{ browsePath: ActivePower, metric: power_w }]
        certificateDir: "${join(dir, 'opcua-client-pki')}"
        samplingInterval: ${ms(o.every)}
        publishingInterval: ${ms(o.every)}`,
  };
  const instruments = o.inputs.map(
    (name) => `  - id: ${IDS[name]}
    publishEvery: ${ms(o.publishEvery)}
    inputs:
${inputs[name]}
    state: ${state}`,
  );
  return `# written by bench/agent
agent: { id: bench-agent }
mqtt: { url: "${peers.broker.url}", username: ${AGENT_USER.username}, password: "\${DAYI_AGENT_PW}" }
outbox: { dir: "${join(dir, 'outbox')}" }
instruments:
${instruments.join('\n')}
`;
}

interface InstrumentCounts {
  telemetry: number;
  telemetryInWindow: number;
  state: number;
  seqGaps: number;
  lastSeq: number | null;
  /** Messages that do not decode as SPEC payloads (should stay 0). */
  invalid: number;
  inputs: NonNullable<InstrumentCounts['status']>['inputs'];
  status: { online: boolean; inputs: { name: string; connected: boolean; lastError?: string }[] } | null;
}

/** Counts what the agent publishes, per instrument, from the broker's side. */
async function startCounter(peers: Peers, ids: string[]) {
  const counts = new Map<string, InstrumentCounts>(
    ids.map((id) => [
      id,
      {
        telemetry: 0,
        telemetryInWindow: 0,
        state: 0,
        seqGaps: 0,
        lastSeq: null,
        status: null,
        invalid: 0,
        inputs: [],
      },
    ]),
  );
  let inWindow = false;
  const client = await mqtt.connectAsync(peers.broker.url, {
    ...AGENT_USER,
    clientId: `${AGENT_USER.username}:counter`,
    clean: true,
    reconnectPeriod: 1000,
  });
  client.on('message', (topic, payload) => {
    const [, , id, kind] = topic.split('/');
    const c = counts.get(id ?? '');
    if (!c) return;
    const decoded = isTopicKind(kind) ? decodePayload(kind, payload) : null;
    if (!decoded?.ok) {
      c.invalid++;
      return;
    }
    const body = decoded.payload as Record<string, unknown>;
    if (kind === 'telemetry') {
      c.telemetry++;
      if (inWindow) c.telemetryInWindow++;
      const seq = body.seq as number;
      if (c.lastSeq !== null && seq !== c.lastSeq + 1) c.seqGaps++;
      c.lastSeq = seq;
    } else if (kind === 'state') c.state++;
    else if (kind === 'status') {
      c.status = body as unknown as InstrumentCounts['status'];
      // The offline status sent at stop carries no inputs: keep what the agent last reported live.
      if (c.status?.online) c.inputs = c.status.inputs;
    }
  });
  await client.subscribeAsync('dayi/v1/+/+', { qos: 1 });
  return {
    counts,
    startWindow: () => {
      inWindow = true;
    },
    stopWindow: () => {
      inWindow = false;
    },
    close: () => client.endAsync(),
  };
}

function spawnLogged(args: string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(logFile, 'w');
  const child = spawn(NODE, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

async function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
  return child.exitCode ?? child.signalCode;
}

/** Warnings and errors the agent logged (pino levels 40+), for the report. */
function agentProblems(logFile: string): { count: number; first: string[] } {
  const lines = readFileSync(logFile, 'utf8').split('\n');
  const bad: string[] = [];
  for (const l of lines) {
    try {
      const j = JSON.parse(l) as { level?: number; msg?: string; err?: string };
      if ((j.level ?? 0) >= 40) bad.push(`${j.msg ?? ''}${j.err ? `: ${j.err}` : ''}`);
    } catch {
      if (l.trim()) bad.push(l.slice(0, 200));
    }
  }
  return { count: bad.length, first: bad.slice(0, 5) };
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number, child: ChildProcess) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode} before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

export async function runAgentBench(o: AgentBenchOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-agent-'));
  const ticks = clockTicks();
  let peers: Peers | null = null;
  let agent: ChildProcess | null = null;
  let baseline: ChildProcess | null = null;
  let counter: Awaited<ReturnType<typeof startCounter>> | null = null;
  try {
    peers = await startPeers(dir, o.every, o.inputs, progress);
    counter = await startCounter(
      peers,
      o.inputs.map((n) => IDS[n]),
    );
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, agentYaml(peers, dir, o));
    const logFile = join(dir, 'agent.log');
    // As systemd starts the service: its Environment= lines, the secret from EnvironmentFile=, a PATH;
    // nothing else of this shell (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, … would change the figures).
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...AGENT_SERVICE_ENV,
      DAYI_AGENT_PW: AGENT_USER.password,
    };
    for (const [k, v] of Object.entries(o.envChanges)) {
      if (v === null) delete env[k];
      else env[k] = v;
    }
    agent = spawnLogged([...o.nodeArgs, ...o.entry, '-c', config], logFile, env);
    baseline = spawnLogged(
      [...o.nodeArgs, '-e', 'setInterval(() => {}, 1000)'],
      join(dir, 'baseline.log'),
      env,
    );
    progress(`agent pid ${agent.pid}, baseline pid ${baseline.pid}; waiting for every input to be connected`);

    const counts = counter.counts;
    await waitUntil(
      'every instrument online with its input connected and a first telemetry',
      () =>
        [...counts.values()].every(
          (c) => c.status?.online && c.status.inputs.every((i) => i.connected) && c.telemetry > 0,
        ),
      60_000 + 2 * o.publishEvery,
      agent,
    );
    progress(`working; warm-up ${o.warmup / 1000} s`);
    await sleep(o.warmup);

    const readsBefore = await peers.modbusReads();
    const writesBefore = peers.opcuaWrites();
    const agentSamples: ProcSample[] = [];
    const baseSamples: ProcSample[] = [];
    const take = () => {
      const a = sampleProc(agent!.pid!);
      const b = sampleProc(baseline!.pid!);
      if (!a) throw new Error(`the agent (pid ${agent!.pid}) is gone; see ${logFile}`);
      if (b) baseSamples.push(b);
      agentSamples.push(a);
    };
    counter.startWindow();
    take();
    const start = performance.now();
    const end = start + o.duration;
    let nextToggle = start + 120_000;
    let nextProgress = start + 60_000;
    while (performance.now() < end) {
      await sleep(Math.min(o.sampleEvery, end - performance.now()));
      take();
      const now = performance.now();
      if (now >= nextToggle) {
        // The SDM630's instrument goes running <-> idle every 2 minutes: state changes are published too.
        await peers.toggleSdm630();
        nextToggle += 120_000;
      }
      if (now >= nextProgress) {
        const last = agentSamples.at(-1)!;
        progress(
          `${Math.round((now - start) / 1000)} s: agent RSS ${(last.rssBytes / 2 ** 20).toFixed(1)} MiB, CPU ${(((last.cpuTicks - agentSamples[0]!.cpuTicks) / ticks / ((now - start) / 1000)) * 100).toFixed(2)} %`,
        );
        nextProgress += 60_000;
      }
    }
    counter.stopWindow();
    const windowSeconds = (agentSamples.at(-1)!.at - agentSamples[0]!.at) / 1000;
    const agentSummary = summarize(agentSamples, ticks, peakRss(agent.pid!));
    const baseSummary = summarize(baseSamples, ticks, peakRss(baseline.pid!));
    const readsAfter = await peers.modbusReads();
    const writesAfter = peers.opcuaWrites();

    const exit = await stopChild(agent);
    await stopChild(baseline);
    await sleep(500); // the graceful offline status
    const problems = agentProblems(logFile);
    const instruments = Object.fromEntries(
      [...counts].map(([id, c]) => [
        id,
        {
          telemetryInWindow: c.telemetryInWindow,
          telemetryTotal: c.telemetry,
          stateMessages: c.state,
          seqGaps: c.seqGaps,
          invalidPayloads: c.invalid,
          onlineAfterStop: c.status?.online ?? null,
          inputsWhileOnline: c.inputs,
        },
      ]),
    );

    return {
      bench: 'agent',
      node: process.version,
      command: [
        `npm run bench -- agent --duration ${human(o.duration)} --every ${human(o.every)}`,
        `--publish-every ${human(o.publishEvery)} --warmup ${human(o.warmup)} --inputs ${o.inputs.join(',')}`,
        ...(o.nodeArgs.join(' ') === AGENT_NODE_FLAGS.join(' ')
          ? []
          : o.nodeArgs.map((a) => `--node-arg=${a}`)),
        ...(o.entry.join(' ') === serviceEntry(ROOT, posix).entry.join(' ') ? [] : [`--entry ${o.entry[0]}`]),
        ...Object.entries(o.envChanges).map(([k, v]) => `--env ${k}${v === null ? '' : `=${v}`}`),
      ].join(' '),
      options: o,
      setup:
        'the agent as the installed service runs it (same Node, flags, environment and entry: agent/src/service/node-flags.ts); one instrument per input, each at `every`: eastron-sdm630 over Modbus TCP (pymodbus), eastron-sdm120 over Modbus RTU (pymodbus on a socat pty pair), chint-dtsu666 at unit 2 behind a Modbus TCP gateway (pymodbus), opcua-machinery + ActivePower over OPC UA (node-opcua fixture server, value changed every `every`); state classification on power_w; outbox fsync on; log level info; Mosquitto as the broker',
      measuredSeconds: Math.round(windowSeconds),
      note: 'RSS from /proc/PID/status (VmRSS, and its RssAnon and RssFile parts, sampled every sampleEvery in the measured window; peakHwm = VmHWM over the whole life, start-up included); cpuShare = (utime+stime) / wall time in the measured window, 0.01 = 1 % of one core; the warm-up before the window is excluded',
      agent: {
        ...agentSummary,
        rssMB: {
          median: Number((agentSummary.rssMiB.median * MB_PER_MIB).toFixed(1)),
          max: Number((agentSummary.rssMiB.max * MB_PER_MIB).toFixed(1)),
        },
      },
      baseline: { what: 'idle node -e "setInterval(() => {}, 1000)", same node binary', ...baseSummary },
      ratio: {
        rssMedianAgentVsBaseline: Number((agentSummary.rssMiB.median / baseSummary.rssMiB.median).toFixed(2)),
        rssMedianAboveBaselineMiB: Number(
          (agentSummary.rssMiB.median - baseSummary.rssMiB.median).toFixed(1),
        ),
      },
      work: {
        expectedTelemetryPerInstrument: Math.floor((windowSeconds * 1000) / o.publishEvery),
        instruments,
        modbusRequestsServed: {
          sdm630: readsAfter.sdm630 - readsBefore.sdm630,
          sdm120: readsAfter.sdm120 - readsBefore.sdm120,
          dtsu666: readsAfter.dtsu666 - readsBefore.dtsu666,
        },
        opcuaValueChanges: writesAfter - writesBefore,
        agentExit: exit,
        agentLogWarnings: problems,
      },
      goal: GOAL,
      pass: {
        rss: agentSummary.rssMiB.max * MB_PER_MIB < GOAL.rssMB,
        cpu: agentSummary.cpuShare < GOAL.cpuShare,
      },
    };
  } finally {
    if (agent) await stopChild(agent, 5000);
    if (baseline) await stopChild(baseline, 5000);
    await counter?.close().catch(() => {});
    await peers?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The agent's script: the service's (the bundle, refused if stale: it would run the sources and
 * measure them), or `--entry FILE` (`bin/dayi.js` gets its `agent` command).
 */
function benchEntry(entry: string | undefined): { flags: readonly string[]; entry: string[] } {
  if (entry)
    return basename(entry) === 'dayi.js'
      ? { flags: SOURCE_NODE_FLAGS, entry: [resolve(entry), 'agent'] }
      : { flags: AGENT_NODE_FLAGS, entry: [resolve(entry)] };
  const s = serviceEntry(ROOT, posix);
  const problem = s.bundled ? staleBundleReason(pathToFileURL(s.bundle).href) : `no ${s.bundle}`;
  if (problem) {
    process.stderr.write(`bench agent: ${problem}; run \`npm run build:agent\` first\n`);
    process.exit(2);
  }
  return s;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10m' },
      every: { type: 'string', default: '1s' },
      'publish-every': { type: 'string', default: '10s' },
      warmup: { type: 'string', default: '30s' },
      'sample-every': { type: 'string', default: '5s' },
      'node-arg': { type: 'string', multiple: true, default: [] },
      env: { type: 'string', multiple: true, default: [] },
      inputs: { type: 'string', default: REFERENCE_INPUTS.join(',') },
      entry: { type: 'string' },
    },
  });
  const inputs = values.inputs.split(',').filter((n) => n !== '');
  const unknown = inputs.filter((n) => !INPUT_NAMES.includes(n as InputName));
  if (unknown.length > 0 || inputs.length === 0) {
    process.stderr.write(`--inputs: use a comma-separated list of ${INPUT_NAMES.join(', ')}\n`);
    process.exit(2);
  }
  const entry = benchEntry(values.entry);
  const result = await runAgentBench({
    duration: parseDuration(values.duration),
    every: parseDuration(values.every),
    publishEvery: parseDuration(values['publish-every']),
    warmup: parseDuration(values.warmup),
    sampleEvery: parseDuration(values['sample-every']),
    // By default the agent runs with the Node flags of the installed service for its entry.
    nodeArgs: values['node-arg'].length > 0 ? values['node-arg'] : [...entry.flags],
    inputs: inputs as InputName[],
    entry: entry.entry,
    // --env NAME=VALUE sets a variable for the agent; --env NAME removes one of the service's.
    envChanges: Object.fromEntries(
      values.env.map((e) =>
        e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, null],
      ),
    ),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
