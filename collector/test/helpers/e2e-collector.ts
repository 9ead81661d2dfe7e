import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { build } from '../../src/app.ts';
import type { CollectorConfigInput } from '../../src/config.ts';

/**
 * Collectors for end-to-end tests: each on free ports (HTTP and MQTT port 0) with its store in a
 * fresh temp dir, talked to only through MQTT and HTTP, as an agent and the platform would.
 */

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const PLATFORM_KEY = 'platform-key-0123456789abcdef';
export const MANAGER_KEY = 'manager-key-0123456789abcdef';
export const AGENT = { username: 'lab3-pc7', password: 'agent-password-1' };
export const OTHER_AGENT = { username: 'lab9-pc1', password: 'agent-password-9' };

export function e2eConfig(dir: string, instruments: string[], extra: Partial<CollectorConfigInput> = {}) {
  return {
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { host: '127.0.0.1', port: 0 },
    store: { sqlite: join(dir, 'dayi.sqlite'), sync: 'full' as const },
    timezone: 'Asia/Shanghai',
    offlineAfter: '5m',
    apiKeys: [
      { name: 'platform', key: PLATFORM_KEY, role: 'platform' as const },
      { name: 'manager', key: MANAGER_KEY, role: 'manager' as const },
    ],
    agents: [
      { ...AGENT, instruments },
      { ...OTHER_AGENT, instruments: ['OTHER-0001'] },
    ],
    instruments: instruments.map((id) => ({ id, name: `instrument ${id}`, org: 'Test University' })),
    log: { level: 'warn' as const },
    ...extra,
  } satisfies CollectorConfigInput;
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningCollector {
  baseUrl: string;
  mqttUrl: string;
  mqttPort: number;
  close(): Promise<void>;
}

/** An in-process collector listening on loopback, as `dayi collector` would run it. */
export async function startInProcess(
  config: CollectorConfigInput,
): Promise<RunningCollector & { app: FastifyInstance }> {
  const app = await build(config, { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr !== 'object') throw new Error('the HTTP server has no address');
  return {
    app,
    baseUrl: `http://127.0.0.1:${addr.port}`,
    mqttUrl: `mqtt://127.0.0.1:${app.dayi.mqttPort}`,
    mqttPort: app.dayi.mqttPort,
    close: () => app.close(),
  };
}

/** `dayi collector -c FILE` as a child process; resolves when its "ready" log line names its ports. */
export async function startChild(
  config: CollectorConfigInput,
  dir: string,
  opts: { umask?: string; configMode?: number } = {},
): Promise<RunningCollector & { child: ChildProcess; output: () => string }> {
  const file = join(dir, 'collector.yaml');
  writeFileSync(file, stringify({ ...config, log: { level: 'info' } }), { mode: opts.configMode ?? 0o600 });
  // bin/dayi.js re-executes itself only on Node < 24; under Node 24 the pid is the collector's own
  // (with a umask, sh execs into it, so the pid stays the collector's).
  const args = [join(ROOT, 'bin/dayi.js'), 'collector', '-c', file];
  const child = opts.umask
    ? spawn('/bin/sh', ['-c', `umask ${opts.umask} && exec "$@"`, 'sh', process.execPath, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const ready = await new Promise<{ api: string; mqtt: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`the collector did not log "dayi collector ready" within 30 s; output:\n${out}`));
    }, 30_000);
    const onData = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('dayi collector ready')) continue;
        cleanup();
        resolve(JSON.parse(line) as { api: string; mqtt: string });
        return;
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`the collector exited with ${code} before it was ready; output:\n${out}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
  const mqttPort = Number(new URL(ready.mqtt).port);
  return {
    child,
    output: () => out,
    baseUrl: ready.api.replace(/\/v1$/, ''),
    mqttUrl: ready.mqtt,
    mqttPort,
    close: () => stopChild(child, 'SIGTERM'),
  };
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** GET with the platform key; throws with the body when the status is not `expect`. */
export async function getJson<T = unknown>(
  baseUrl: string,
  path: string,
  expect = 200,
  key = PLATFORM_KEY,
): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`GET ${path}: expected ${expect}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Polls `read` until `done` holds; fails naming `what` and the last value seen. */
export async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`,
  );
}
