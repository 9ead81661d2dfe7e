/**
 * What the fault scenarios share: the collector as a child process (`dayi collector -c FILE`, so it
 * can be killed with SIGKILL and started again on the same store and ports), a fleet of MQTT agents
 * (mqtt.js clients with the agent's session settings: persistent session, QoS 1, a message kept and
 * sent again until its PUBACK), and the count of every message from sent to acknowledged to stored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import mqtt, { type MqttClient } from 'mqtt';

export const ROOT = new URL('..', import.meta.url).pathname;
export const PLATFORM_KEY = 'fault-platform-key-0123456789';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface AgentCreds {
  username: string;
  password: string;
  instrument: string;
}

export function fleetCreds(n: number, prefix = 'F'): AgentCreds[] {
  return Array.from({ length: n }, (_, i) => {
    const tag = `${prefix}${String(i).padStart(5, '0')}`;
    return { username: `fault-${tag}`, password: `pw-${tag}-0123456789`, instrument: `FAULT-${tag}` };
  });
}

export interface CollectorSetup {
  dir: string;
  store: string;
  httpPort: number;
  mqttPort: number;
  mqttHost?: string;
  agents: AgentCreds[];
  extra?: Record<string, unknown>;
}

/** The collector's config (JSON is YAML): every agent registered for its instrument. */
export function writeCollectorConfig(s: CollectorSetup): string {
  const config = {
    http: { host: '127.0.0.1', port: s.httpPort },
    mqtt: { host: s.mqttHost ?? '127.0.0.1', port: s.mqttPort },
    store: { sqlite: s.store, sync: 'normal' },
    timezone: 'Asia/Shanghai',
    offlineAfter: '5m',
    apiKeys: [{ name: 'platform', key: PLATFORM_KEY, role: 'platform' }],
    agents: s.agents.map((a) => ({
      username: a.username,
      password: a.password,
      instruments: [a.instrument],
    })),
    instruments: s.agents.map((a) => ({ id: a.instrument, name: a.instrument, org: 'Fault University' })),
    log: { level: 'info' },
    ...s.extra,
  };
  const file = join(s.dir, 'collector.yaml');
  writeFileSync(file, JSON.stringify(config, null, 1), { mode: 0o600 });
  return file;
}

export interface Collector {
  child: ChildProcess;
  baseUrl: string;
  output(): string;
  /** Stops it (SIGTERM: graceful; SIGKILL: as a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `dayi collector -c FILE` in a child process; resolves once it logged "dayi collector ready". */
export async function startCollector(configFile: string, logFile?: string): Promise<Collector> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/dayi.js'), 'collector', '-c', configFile], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d: string) => {
    out += d;
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    if (logFile) writeFileSync(logFile, d, { flag: 'a' });
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  const ready = await new Promise<{ api: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the collector was not ready within 60 s:\n${out.slice(-4000)}`));
    }, 60_000);
    const poll = setInterval(() => {
      const line = out.split('\n').find((l) => l.includes('dayi collector ready'));
      if (!line) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(JSON.parse(line) as { api: string });
    }, 20);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`the collector exited with ${code} before it was ready:\n${out.slice(-4000)}`));
    });
  });
  return {
    child,
    baseUrl: ready.api.replace(/\/v1$/, ''),
    output: () => out,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
  };
}

interface Sent {
  firstAt: number;
  acked: boolean;
  /** Being published now (a PUBACK or an error is due). */
  open: boolean;
}

/**
 * One agent's session as dayi's agent runs it (agent/src/publisher/session.ts): clientId per
 * instrument, `clean: false`, QoS 1, at most `window` messages in flight, a message whose publish
 * failed sent again (same seq) after the reconnect. Seq rises by one per message.
 */
export class FleetAgent {
  readonly client: MqttClient;
  readonly sent = new Map<number, Sent>();
  private nextSeq = 1;
  private readonly retry: number[] = [];
  acked = 0;
  readonly latencies: { at: number; ms: number }[] = [];
  connects = 0;

  readonly creds: AgentCreds;
  private readonly window: number;
  private readonly epoch: string;

  constructor(creds: AgentCreds, url: string, window: number, epoch: string) {
    this.creds = creds;
    this.window = window;
    this.epoch = epoch;
    this.client = mqtt.connect(url, {
      clientId: `${creds.username}:${creds.instrument}`,
      username: creds.username,
      password: creds.password,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      protocolVersion: 4,
    });
    this.client.on('connect', () => {
      this.connects++;
      this.flushRetries();
    });
    this.client.on('error', () => {});
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get open(): number {
    let n = 0;
    for (const s of this.sent.values()) if (s.open) n++;
    return n;
  }

  /** Sends the next message if the window allows; returns whether it did. */
  sendNext(): boolean {
    if (!this.client.connected || this.inflight >= this.window) return false;
    const seq = this.nextSeq++;
    this.sent.set(seq, { firstAt: Date.now(), acked: false, open: false });
    this.publish(seq);
    return true;
  }

  private inflight = 0;

  private publish(seq: number): void {
    const s = this.sent.get(seq)!;
    s.open = true;
    this.inflight++;
    const payload = JSON.stringify({
      ts: s.firstAt,
      seq,
      epoch: this.epoch,
      metrics: { power_w: 500 + (seq % 100), current_a: 2.3, voltage_v: 229.8, energy_kwh: seq / 1000 },
      state: 'running',
    });
    this.client.publish(`dayi/v1/${this.creds.instrument}/telemetry`, payload, { qos: 1 }, (err) => {
      if (!s.open) return;
      s.open = false;
      this.inflight--;
      if (err) {
        this.retry.push(seq);
        if (this.client.connected) this.flushRetries();
        return;
      }
      if (!s.acked) {
        s.acked = true;
        this.acked++;
        const now = Date.now();
        this.latencies.push({ at: now, ms: now - s.firstAt });
      }
    });
  }

  private flushRetries(): void {
    while (this.retry.length > 0 && this.client.connected) {
      const seq = this.retry.shift()!;
      if (!this.sent.get(seq)?.acked) this.publish(seq);
    }
  }

  /** Every message sent so far acknowledged. */
  get settled(): boolean {
    return this.acked === this.sent.size;
  }

  end(): Promise<void> {
    return new Promise((r) => this.client.end(true, {}, () => r()));
  }
}

export class Fleet {
  readonly agents: FleetAgent[];
  private timer: NodeJS.Timeout | null = null;

  constructor(creds: AgentCreds[], url: string, window = 4) {
    const epoch = `fault-${process.pid}-${Date.now().toString(36)}`;
    this.agents = creds.map((c) => new FleetAgent(c, url, window, epoch));
  }

  get connected(): number {
    return this.agents.filter((a) => a.connected).length;
  }

  /** Each agent sends `perSecond` messages a second (ticks every 50 ms) until stopSending(). */
  startSending(perSecond: number): void {
    const tickMs = 50;
    let debt = 0;
    this.timer = setInterval(() => {
      debt += (perSecond * tickMs) / 1000;
      const n = Math.floor(debt);
      debt -= n;
      for (const a of this.agents) for (let i = 0; i < n; i++) a.sendNext();
    }, tickMs);
  }

  stopSending(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get sent(): number {
    return this.agents.reduce((n, a) => n + a.sent.size, 0);
  }
  get acked(): number {
    return this.agents.reduce((n, a) => n + a.acked, 0);
  }

  /** Waits until every message sent is acknowledged. */
  async drain(timeoutMs: number): Promise<void> {
    await waitFor(
      `every message acknowledged (${this.acked} of ${this.sent})`,
      () => this.agents.every((a) => a.settled),
      timeoutMs,
    );
  }

  latencies(from = 0, to = Number.POSITIVE_INFINITY): number[] {
    const out: number[] = [];
    for (const a of this.agents) for (const l of a.latencies) if (l.at >= from && l.at < to) out.push(l.ms);
    return out.sort((x, y) => x - y);
  }

  async end(): Promise<void> {
    this.stopSending();
    await Promise.all(this.agents.map((a) => a.end()));
  }
}

export function percentiles(sorted: number[]): {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
} {
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? null };
}

/** Telemetry seqs stored per instrument, read from the collector's SQLite store. */
export function storedSeqs(store: string, instruments: string[]): Map<string, number[]> {
  const db = new DatabaseSync(store, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const q = db.prepare(
      "SELECT seq FROM messages WHERE instrument_id = ? AND kind = 'telemetry' ORDER BY seq",
    );
    return new Map(instruments.map((id) => [id, (q.all(id) as { seq: number }[]).map((r) => r.seq)]));
  } finally {
    db.close();
  }
}

export interface Tally {
  sent: number;
  acknowledged: number;
  stored: number;
  lost: number;
  duplicates: number;
  /** Stored but never acknowledged (the PUBACK was lost with the connection): not a loss. */
  storedUnacknowledged: number;
}

/** Counts the fleet's messages against the store: lost = acknowledged and not stored. */
export function tally(fleet: Fleet, store: string): Tally {
  const stored = storedSeqs(
    store,
    fleet.agents.map((a) => a.creds.instrument),
  );
  const t: Tally = { sent: 0, acknowledged: 0, stored: 0, lost: 0, duplicates: 0, storedUnacknowledged: 0 };
  for (const a of fleet.agents) {
    const seqs = stored.get(a.creds.instrument) ?? [];
    const unique = new Set(seqs);
    t.sent += a.sent.size;
    t.acknowledged += a.acked;
    t.stored += unique.size;
    t.duplicates += seqs.length - unique.size;
    for (const [seq, s] of a.sent) {
      if (s.acked && !unique.has(seq)) t.lost++;
      if (!s.acked && unique.has(seq)) t.storedUnacknowledged++;
    }
  }
  return t;
}

export async function getJson(url: string): Promise<{ status: number; body: unknown; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const body = await r.json().catch(() => null);
  return { status: r.status, body, ms: performance.now() - t0 };
}
