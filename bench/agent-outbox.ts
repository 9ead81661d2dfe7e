/**
 * bench/agent-outbox: the edge agent's resident memory with a full default outbox (256 MiB of
 * unsent telemetry), as after a long broker outage, against the same agent with an empty outbox in
 * the same run. Both run as the installed service runs them (agent/src/service/node-flags.ts), with
 * one simulated instrument publishing every `--publish-every`, and a broker that is down (a closed
 * loopback port), so the full outbox stays full: each new message drops the oldest telemetry.
 *
 * The full outbox is written before the agent starts, in the agent's own format (the Outbox class,
 * one telemetry record per message as the agent makes them), then the agent opens it as after a
 * restart: its start-up (indexing every record) is part of what is measured (VmHWM).
 *
 * Prints one JSON object on stdout; progress goes to stderr.
 *   npm run bench -- agent-outbox [--duration 2m] [--publish-every 100ms] [--max-bytes 256MiB]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { parseArgs } from 'node:util';
import { parseBytes, parseDuration } from '@dayi/protocols';
import { Outbox, readOutboxBacklog } from '../agent/src/outbox.ts';
import { AGENT_SERVICE_ENV, serviceEntry } from '../agent/src/service/node-flags.ts';
import { type ProcSample, peakRss, sampleProc } from './agent-procfs.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const INSTRUMENT = 'BENCH-OUTBOX-0001';
const MB_PER_MIB = 1.048576;
const GOAL_MB = 70;
const progress = (s: string) => process.stderr.write(`[bench agent-outbox] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loopback port nothing listens on: the broker of an outage (connection refused). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** Fills an instrument's outbox to its bound with telemetry shaped as the agent writes it. */
export function fillOutbox(dir: string, maxBytes: number, ts0: number): { records: number; bytes: number } {
  const box = Outbox.open(dir, { maxBytes, fsync: false });
  let i = 0;
  // Stop just short of the bound: the agent's own appends then start the dropping.
  while (box.stats().bytes < maxBytes - 1024) {
    box.append('telemetry', {
      ts: ts0 + i * 1000,
      metrics: { power_w: Math.round((880 + (i % 40)) * 10) / 10 },
      state: 'running',
    });
    i++;
  }
  const { bytes, pending } = box.stats();
  box.close();
  return { records: pending, bytes };
}

interface Run {
  name: string;
  child: ChildProcess;
  samples: ProcSample[];
}

function yaml(port: number, outboxDir: string, maxBytes: number, publishEvery: number): string {
  return `# written by bench/agent-outbox
agent: { id: bench-outbox }
mqtt: { url: "mqtt://127.0.0.1:${port}", username: bench, password: "\${DAYI_AGENT_PW}", reconnect: { min: 1s, max: 5s } }
outbox: { dir: "${outboxDir}", maxBytes: ${maxBytes} }
instruments:
  - id: ${INSTRUMENT}
    publishEvery: ${publishEvery}ms
    inputs: [ { type: simulated, pattern: constant, every: ${Math.min(publishEvery, 1000)}ms } ]
    state: { signal: power_w, thresholds: { standby: 5, idle: 80, running: 400 } }
`;
}

function summary(samples: ProcSample[], pid: number) {
  const mb = (b: number) => Number(((b / 2 ** 20) * MB_PER_MIB).toFixed(1));
  const rss = samples.map((s) => s.rssBytes).sort((a, b) => a - b);
  const anon = samples.map((s) => s.rssAnonBytes).sort((a, b) => a - b);
  const mid = (a: number[]) => a[Math.floor(a.length / 2)] ?? 0;
  const hwm = peakRss(pid);
  return {
    rssMB: { median: mb(mid(rss)), max: mb(rss.at(-1) ?? 0) },
    rssAnonMB: { median: mb(mid(anon)), max: mb(anon.at(-1) ?? 0) },
    peakHwmMB: hwm === null ? null : mb(hwm),
  };
}

export async function runOutboxBench(o: { duration: number; publishEvery: number; maxBytes: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-bench-outbox-'));
  const runs: Run[] = [];
  try {
    const port = await closedPort();
    const s = serviceEntry(ROOT, posix);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...AGENT_SERVICE_ENV, DAYI_AGENT_PW: 'unused' };
    const fullDir = join(dir, 'full');
    progress(`filling ${o.maxBytes} bytes of outbox`);
    const t0 = performance.now();
    const filled = fillOutbox(join(fullDir, INSTRUMENT), o.maxBytes, Date.now() - 3 * 86_400_000);
    progress(`${filled.records} records, ${filled.bytes} bytes in ${Math.round(performance.now() - t0)} ms`);
    for (const name of ['empty', 'full']) {
      const outboxDir = join(dir, name);
      const config = join(dir, `${name}.yaml`);
      writeFileSync(config, yaml(port, outboxDir, o.maxBytes, o.publishEvery));
      const fd = openSync(join(dir, `${name}.log`), 'w');
      const child = spawn(process.execPath, [...s.flags, ...s.entry, '-c', config], {
        cwd: ROOT,
        env,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      runs.push({ name, child, samples: [] });
    }
    progress(`agents ${runs.map((r) => `${r.name} pid ${r.child.pid}`).join(', ')}; warm-up 15 s`);
    await sleep(15_000);
    const end = performance.now() + o.duration;
    while (performance.now() < end) {
      for (const r of runs) {
        const sample = sampleProc(r.child.pid!);
        if (!sample)
          throw new Error(`the ${r.name} agent exited (${r.child.exitCode}); see ${dir}/${r.name}.log`);
        r.samples.push(sample);
      }
      await sleep(2000);
    }
    const result = Object.fromEntries(runs.map((r) => [r.name, summary(r.samples, r.child.pid!)]));
    for (const r of runs) r.child.kill('SIGTERM');
    await Promise.all(
      runs.map(
        (r) => new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.once('exit', res))),
      ),
    );
    const backlog = readOutboxBacklog(join(fullDir, INSTRUMENT));
    const full = result.full!;
    return {
      bench: 'agent-outbox',
      machine: { node: process.version },
      note: 'RSS from /proc/PID/status every 2 s after a 15 s warm-up; MB = 10^6 bytes (the goal is 70 MB); both agents have the broker down; the full one starts on a full default outbox and keeps dropping the oldest telemetry',
      options: { durationMs: o.duration, publishEveryMs: o.publishEvery, maxBytes: o.maxBytes },
      filled,
      backlogAtEnd: backlog,
      agents: result,
      fullMinusEmptyMB: Number((full.rssMB.median - result.empty!.rssMB.median).toFixed(1)),
      goal: { rssMB: GOAL_MB, met: full.rssMB.max < GOAL_MB && (full.peakHwmMB ?? 0) < GOAL_MB },
    };
  } finally {
    for (const r of runs)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '2m' },
      'publish-every': { type: 'string', default: '100ms' },
      'max-bytes': { type: 'string', default: '256MiB' },
    },
  });
  const result = await runOutboxBench({
    duration: parseDuration(values.duration),
    publishEvery: parseDuration(values['publish-every']),
    maxBytes: parseBytes(values['max-bytes']),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
