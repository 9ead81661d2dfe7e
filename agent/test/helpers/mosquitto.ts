/**
 * A real, independent MQTT broker for tests: `/usr/sbin/mosquitto` on a free loopback port with a
 * temporary config, optional users (password file made with `mosquitto_passwd`) and optional
 * persistence, so a test can stop it and start it again on the same port with its sessions.
 * Plus `mosquittoSub`, to check from the broker's side with `/usr/bin/mosquitto_sub`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

export { makeTestPki, type TestPki } from './mosquitto-pki.ts';

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
export const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface MosquittoOptions {
  /** Default: a free port. */
  port?: number;
  /** Users allowed to connect; without any, anonymous clients are allowed. */
  users?: { username: string; password: string }[];
  /** Keep sessions and retained messages across stop/start (saved on a clean stop). */
  persistence?: boolean;
  /** Adds a TLS listener (`tlsPort`, `tlsUrl`) beside the plain one; PEM file paths. */
  tls?: { ca: string; cert: string; key: string; requireCertificate?: boolean };
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  /** The TLS listener's port and mqtts:// URL, when `tls` was given. */
  readonly tlsPort?: number;
  readonly tlsUrl?: string;
  readonly dir: string;
  /** Everything mosquitto logged so far (its stderr), for failure messages. */
  log(): string;
  /** SIGTERM and wait for exit (persistence is written then). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'dayi-mosquitto-'));
  const lines = [
    `listener ${port} 127.0.0.1`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    // Tests run as root on CI; otherwise mosquitto would switch to a user who cannot read `dir`.
    `user ${process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'mosquitto')}`,
  ];
  if (opts.users && opts.users.length > 0) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '', { mode: 0o600 });
    for (const u of opts.users) execFileSync(MOSQUITTO_PASSWD, ['-b', pw, u.username, u.password]);
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else lines.push('allow_anonymous true');
  const tlsPort = opts.tls ? await freePort() : undefined;
  if (opts.tls)
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${opts.tls.ca}`,
      `certfile ${opts.tls.cert}`,
      `keyfile ${opts.tls.key}`,
      `require_certificate ${opts.tls.requireCertificate ? 'true' : 'false'}`,
    );
  if (opts.persistence) lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 1');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);

  let child: ChildProcess | null = null;
  let output = '';
  const start = async () => {
    if (child) return;
    const c = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    let exited = false;
    c.once('exit', () => {
      exited = true;
      if (child === c) child = null;
    });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port)) || (tlsPort !== undefined && !(await canConnect(tlsPort)))) {
      if (exited) throw new Error(`mosquitto exited at start on port ${port}:\n${output}`);
      if (Date.now() > deadline)
        throw new Error(`mosquitto did not listen on ${port} within 10 s:\n${output}`);
      await sleep(50);
    }
  };
  const stop = async () => {
    const c = child;
    if (!c) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    child = null;
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort !== undefined ? { tlsPort, tlsUrl: `mqtts://127.0.0.1:${tlsPort}` } : {}),
    dir,
    log: () => output,
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SubOptions {
  port: number;
  topics: string[];
  /** Stop after this many messages (-C). */
  count?: number;
  /** Give up after this many seconds (-W); default 5. */
  timeoutSeconds?: number;
  username?: string;
  password?: string;
  /** Extra mosquitto_sub arguments (e.g. -i id -c -q 1 for a persistent session). */
  args?: string[];
}

export interface SubMessage {
  topic: string;
  payload: string;
  retained: boolean;
}

/**
 * Runs mosquitto_sub until `count` messages or the timeout, and returns what it printed, one message
 * per line (`%r %t %p`: retain flag, topic, payload).
 */
export function mosquittoSub(opts: SubOptions): Promise<SubMessage[]> {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(opts.port),
    '-F',
    '%r %t %p',
    '-W',
    String(opts.timeoutSeconds ?? 5),
  ];
  if (opts.count !== undefined) args.push('-C', String(opts.count));
  if (opts.username) args.push('-u', opts.username);
  if (opts.password) args.push('-P', opts.password);
  for (const t of opts.topics) args.push('-t', t);
  args.push(...(opts.args ?? []));
  return new Promise((resolve, reject) => {
    const c = spawn(MOSQUITTO_SUB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.once('error', reject);
    c.once('exit', () => {
      // -W prints "Timed out" when fewer messages came: that is an answer (maybe none), not an error.
      if (err.trim() && !out && !/timed out/i.test(err))
        return reject(new Error(`mosquitto_sub: ${err.trim()}`));
      resolve(parseSubLines(out));
    });
  });
}

export function parseSubLines(out: string): SubMessage[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [r, topic, ...rest] = l.split(' ');
      return { retained: r === '1', topic: topic ?? '', payload: rest.join(' ') };
    });
}

/** A long-running mosquitto_sub (reconnects by itself) collecting messages until stopped. */
export function startSubscriber(opts: Omit<SubOptions, 'count' | 'timeoutSeconds'>): {
  messages: () => SubMessage[];
  stop: () => Promise<void>;
} {
  const args = ['-h', '127.0.0.1', '-p', String(opts.port), '-F', '%r %t %p'];
  if (opts.username) args.push('-u', opts.username);
  if (opts.password) args.push('-P', opts.password);
  for (const t of opts.topics) args.push('-t', t);
  args.push(...(opts.args ?? []));
  const c = spawn(MOSQUITTO_SUB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.stderr.on('data', () => {});
  return {
    messages: () => parseSubLines(out.slice(0, out.lastIndexOf('\n') + 1)),
    async stop() {
      if (c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      await exited;
    },
  };
}
