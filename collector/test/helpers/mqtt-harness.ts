import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generate, type IConnectPacket, type Packet, parser } from 'mqtt-packet';
import pino from 'pino';
import { type Broker, startBroker } from '../../src/broker/index.ts';
import { type CollectorConfigInput, parseCollectorConfig } from '../../src/config.ts';
import type { CollectorContext } from '../../src/context.ts';
import { createIngest, type Ingest } from '../../src/ingest/index.ts';
import { createMetrics } from '../../src/metrics.ts';
import { openDatabase } from '../../src/store/sqlite.ts';

/** Two agents of the test fleet: A owns NMR-1 and NMR-2, B owns XRD-1. */
export const AGENT_A = { username: 'agent-a', password: 'secret-a-123', instruments: ['NMR-1', 'NMR-2'] };
export const AGENT_B = { username: 'agent-b', password: 'secret-b-456', instruments: ['XRD-1'] };

/** A fixed instant: 2026-11-20 10:00 in Asia/Shanghai. */
export const T0 = Date.parse('2026-11-20T02:00:00Z');

export function tempDir(prefix = 'dayi-mqtt-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeContext(
  dbPath: string,
  overrides: Partial<CollectorConfigInput> = {},
  log: pino.Logger = pino({ level: 'silent' }),
): CollectorContext {
  const config = parseCollectorConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    store: { sqlite: dbPath, sync: 'full' },
    timezone: 'Asia/Shanghai',
    offlineAfter: '5m',
    agents: [AGENT_A, AGENT_B],
    log: { level: 'silent' },
    ...overrides,
  });
  return {
    config,
    db: openDatabase(dbPath, { sync: config.store.sync }),
    metrics: createMetrics(),
    log,
    now: () => Date.now(),
  };
}

export interface Collector {
  ctx: CollectorContext;
  ingest: Ingest;
  broker: Broker;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** The collector's MQTT half on a free loopback port, over a SQLite file. */
export async function startCollector(
  dbPath: string,
  overrides: Partial<CollectorConfigInput> = {},
  log?: pino.Logger,
): Promise<Collector> {
  const ctx = makeContext(dbPath, overrides, log);
  const ingest = createIngest(ctx);
  const broker = await startBroker(ctx, ingest);
  return {
    ctx,
    ingest,
    broker,
    port: broker.port,
    url: `mqtt://127.0.0.1:${broker.port}`,
    async stop() {
      await broker.close();
      await ingest.close();
      ctx.db.close();
    },
  };
}

export async function connectAgent(
  c: { port: number },
  agent: { username: string; password: string },
  opts: IClientOptions = {},
): Promise<MqttClient> {
  return mqtt.connectAsync({
    host: '127.0.0.1',
    port: c.port,
    protocolVersion: 4,
    // the broker accepts only client ids under the agent's username
    clientId: `${agent.username}:t-${Math.random().toString(16).slice(2)}`,
    username: agent.username,
    password: agent.password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
}

/** A second, independent connection to the same SQLite file: sees only what was committed. */
export function countRows(dbPath: string, sql: string, ...params: (string | number)[]): number {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const row = db.prepare(sql).get(...params) as Record<string, number>;
    return Number(Object.values(row)[0]);
  } finally {
    db.close();
  }
}

/** Collects messages of a subscribed client; `next()` waits (bounded) for the next one. */
export function inbox(client: MqttClient) {
  const queue: { topic: string; payload: string; retain: boolean }[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    queue.push({ topic, payload: payload.toString(), retain: packet.retain });
    for (const w of waiters.splice(0)) w();
  });
  return {
    queue,
    async next(what: string, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no MQTT message arrived within ${timeoutMs} ms: expected ${what}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return queue.shift()!;
    },
  };
}

/**
 * Writes raw bytes of a CONNECT (from `packet`, then `patch`ed) on a plain socket and returns the
 * first packet the broker answers with, or `closed` when it only hung up.
 */
export function rawConnect(
  port: number,
  packet: Omit<IConnectPacket, 'cmd'>,
  patch: (bytes: Buffer) => Buffer = (b) => b,
  localAddress?: string,
): Promise<{ answer: Packet | 'closed'; bytes: Buffer }> {
  const bytes = patch(generate({ cmd: 'connect', ...packet }));
  return new Promise((resolve, reject) => {
    // localAddress: another loopback source (127.0.0.2) plays another host
    const socket = connectTcp({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    const p = parser();
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the broker neither answered nor closed within 5 s'));
    }, 5000);
    const done = (answer: Packet | 'closed') => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer, bytes: Buffer.concat(received) });
    };
    p.on('packet', (pkt) => done(pkt));
    p.on('error', reject);
    socket.on('data', (chunk) => {
      received.push(chunk);
      p.parse(chunk);
    });
    socket.on('close', () => done('closed'));
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(bytes));
  });
}

/** Offset of the CONNECT flags byte in a generated MQTT 3.1.1 CONNECT. */
export function connectFlagsOffset(bytes: Buffer): number {
  const at = bytes.indexOf('MQTT');
  if (at < 0) throw new Error('not an MQTT 3.1.1 CONNECT');
  return at + 4 + 1; // protocol name, then the protocol level byte
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Debian mosquitto client (mosquitto_pub, mosquitto_sub) with a hard time limit. */
export function mosquitto(tool: 'mosquitto_pub' | 'mosquitto_sub', args: string[]): Promise<RunResult> {
  // Client ids must be under the username: `-I user:` makes `user:<pid>` unless -i/-I is given.
  const user = args.indexOf('-u');
  const withId =
    user >= 0 && !args.includes('-i') && !args.includes('-I') ? [...args, '-I', `${args[user + 1]}:`] : args;
  return new Promise((resolve) => {
    execFile(`/usr/bin/${tool}`, withId, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function statePayload(seq: number, ts: number, state = 'running'): string {
  return JSON.stringify({ ts, seq, state, since: ts, source: 'power_w' });
}

/** A logger whose JSON lines are kept, to check what the collector logs (and what it does not). */
export function captureLog(level: pino.Level = 'info'): {
  log: pino.Logger;
  lines: () => Record<string, unknown>[];
} {
  const out: string[] = [];
  const log = pino({ level }, { write: (chunk: string) => void out.push(chunk) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
