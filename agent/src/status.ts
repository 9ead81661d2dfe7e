/**
 * `dayi agent status -c agent.yaml`: what the technician at the instrument PC needs to see when
 * the collector shows nothing: per instrument, whether the agent runs and is connected, how many
 * messages wait in the outbox, and the last message the collector refused, with the reason and
 * what to do. It reads the status files the running agent writes (./status-file.ts) and the
 * outbox folders, read-only: it never disturbs the running agent.
 */
import { join } from 'node:path';
import type { RefusalClass } from '@dayi/protocols/mqtt/refusal.ts';
import type { AgentConfig } from './config.ts';
import { type OutboxBacklog, readOutboxBacklog } from './outbox.ts';
import type { SessionState } from './publisher/session.ts';
import { readStatusFile } from './status-file.ts';

export const STATUS_HELP = `Usage: dayi agent status -c agent.yaml [--json]

Shows, for each instrument of agent.yaml:
  agent       whether the agent runs (it reports through <outbox.dir>/<id>/status.json)
  connection  connected to the broker, or since when not, and the last error
  outbox      messages waiting to be sent, and since when
  refused     messages the collector refused since the agent started: how many were kept in
              the outbox (to be sent again once the cause is fixed) or dropped, the last one
              with its reason, and what to do

Options:
  -c, --config FILE   the agent configuration
      --json          the same as JSON, for scripts and monitoring
  -h, --help          this help

Exit code: 0 when the agent runs and every instrument is connected with nothing held back;
1 when something needs attention (not running, not connected, messages refused and kept);
2 for a usage error.
`;

export type AgentRun = 'running' | 'stopped' | 'not running' | 'never ran';

export interface InstrumentReport {
  id: string;
  agent: AgentRun;
  pid: number | null;
  /** When the agent last wrote its status file. */
  updatedAt: number | null;
  broker: string | null;
  connection: Pick<SessionState, 'connected' | 'since' | 'lastError'> | null;
  outbox: OutboxBacklog;
  refused: SessionState['refused'] | null;
  held: SessionState['held'];
  /** What to do, when something needs attention. */
  todo: string[];
}

export interface StatusDeps {
  now: () => number;
  /** Whether a process with this id runs (on this machine). */
  alive: (pid: number) => boolean;
}

export const defaultStatusDeps: StatusDeps = {
  now: Date.now,
  alive: (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

const CLASS_TODO: Record<RefusalClass, (id: string, agent: string, username: string) => string> = {
  not_authorized: (id, _agent, username) =>
    `the collector does not let MQTT user ${username} publish for ${id}: add ${id} to that agent's instruments in the collector's configuration (agents[].instruments), or correct the instrument id in agent.yaml; the refused messages wait in the outbox and are sent again`,
  invalid_payload: () =>
    "the collector could not accept what the agent sent: run the same dayi version on both sides; the collector keeps each refused message with its reason (table 'rejected')",
  too_large: () =>
    'a message was larger than the collector accepts: fewer metrics per instrument, or raise mqtt.maxPacketBytes on the collector',
  invalid_topic: () =>
    'the agent published on a topic the collector does not know: run the same dayi version on both sides',
  future_ts: () =>
    "this PC's clock is ahead of the collector's by more than the collector's mqtt.maxClockSkew: set the clock right (enable NTP, e.g. timedatectl set-ntp true); messages stamped in the future are not kept",
};

export function instrumentReports(
  config: AgentConfig,
  deps: StatusDeps = defaultStatusDeps,
): InstrumentReport[] {
  const now = deps.now();
  return config.instruments.map((inst) => {
    const dir = join(config.outbox.dir, inst.id);
    const file = readStatusFile(dir);
    const backlog = readOutboxBacklog(dir) ?? { pending: 0, bytes: 0, oldest: null, newest: null };
    let agent: AgentRun = 'never ran';
    if (file) {
      // Rewritten at least every publishEvery: three missed rewrites and it is not running.
      const fresh = now - file.updatedAt <= Math.max(3 * file.every, 60_000);
      agent = file.stopped ? 'stopped' : fresh && deps.alive(file.pid) ? 'running' : 'not running';
    }
    const running = agent === 'running';
    // The running agent's own count is exact; from disk, a few out-of-order acks may still count.
    const outbox =
      running && file ? { ...backlog, pending: file.outbox.pending, bytes: file.outbox.bytes } : backlog;
    const report: InstrumentReport = {
      id: inst.id,
      agent,
      pid: file?.pid ?? null,
      updatedAt: file?.updatedAt ?? null,
      broker: file?.broker ?? null,
      connection: running && file ? { ...pick(file.session) } : null,
      outbox,
      refused: file?.session.refused ?? null,
      held: running && file ? file.session.held : null,
      todo: [],
    };
    const username = config.mqtt.username ?? '(none)';
    if (agent !== 'running')
      report.todo.push(
        agent === 'never ran'
          ? 'start the agent: dayi agent -c agent.yaml (or its service)'
          : 'start the agent again: dayi agent -c agent.yaml, or its service (systemctl start / sc start)',
      );
    else if (!report.connection?.connected)
      report.todo.push(
        `the agent cannot reach the broker${report.connection?.lastError ? ` (${report.connection.lastError})` : ''}: check mqtt.url, the user and password in agent.yaml, and the network`,
      );
    const last = report.refused?.last;
    if (last && (report.held || !last.keep))
      report.todo.push(CLASS_TODO[last.class](inst.id, config.agent.id, username));
    return report;
  });
}

function pick(s: SessionState) {
  return { connected: s.connected, since: s.since, lastError: s.lastError };
}

/** Needs attention: the exit code 1 of `dayi agent status`. */
export function needsAttention(r: InstrumentReport): boolean {
  return r.agent !== 'running' || !r.connection?.connected || r.held !== null;
}

/** `2026-12-06 10:02:03` in the machine's time zone: what the technician's clock shows. */
export function localTime(ts: number): string {
  const d = new Date(ts);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function formatStatus(config: AgentConfig, reports: readonly InstrumentReport[]): string {
  const out: string[] = [];
  const running = reports.find((r) => r.agent === 'running');
  const head = running
    ? `running (pid ${running.pid}), broker ${running.broker}`
    : reports.some((r) => r.agent === 'stopped' || r.agent === 'not running')
      ? `not running (last report ${localTime(Math.max(...reports.map((r) => r.updatedAt ?? 0)))})`
      : 'has not run with this configuration yet';
  out.push(`dayi agent ${config.agent.id}: ${head}`, '');
  for (const r of reports) {
    out.push(r.id);
    const c = r.connection;
    out.push(
      `  connection  ${
        c
          ? `${c.connected ? 'connected' : 'not connected'} since ${localTime(c.since)}${c.lastError && !c.connected ? ` (${c.lastError})` : ''}`
          : `unknown: the agent is ${r.agent}`
      }`,
    );
    const o = r.outbox;
    out.push(
      `  outbox      ${o.pending} message${o.pending === 1 ? '' : 's'} waiting${o.pending > 0 ? ` (${size(o.bytes)})` : ''}${o.oldest !== null && o.pending > 0 ? `, the oldest from ${localTime(o.oldest)}` : ''}`,
    );
    const f = r.refused;
    if (!f || f.total === 0) out.push('  refused     none');
    else {
      out.push(
        `  refused     ${f.total} since the agent started (${f.kept} kept, ${f.dropped} dropped); the last at ${localTime(f.last!.at)}:`,
        `              ${f.last!.class}: ${f.last!.reason}`,
      );
      if (r.held)
        out.push(
          `              sending paused: again at ${localTime(r.held.retryAt)}, or at the next reconnect`,
        );
    }
    for (const t of r.todo) out.push(`  to do       ${t}`);
  }
  return `${out.join('\n')}\n`;
}

export function statusCommand(
  config: AgentConfig,
  opts: { json: boolean },
  io: { out: (s: string) => void },
  deps: StatusDeps = defaultStatusDeps,
): number {
  const reports = instrumentReports(config, deps);
  io.out(
    opts.json
      ? `${JSON.stringify({ agent: config.agent.id, instruments: reports }, null, 2)}\n`
      : formatStatus(config, reports),
  );
  return reports.some(needsAttention) ? 1 : 0;
}
