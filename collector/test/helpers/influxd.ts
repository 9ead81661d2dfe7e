/**
 * A real InfluxDB for tests: Debian's `/usr/bin/influxd` (1.6.x) with a generated config: meta,
 * data and WAL under a temp dir, HTTP on a free loopback port, the RPC port on another free
 * loopback port, reporting and the `_internal` monitor off, no other listener. `stop()` and
 * `start()` keep the data (the outage tests), `close()` removes it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const INFLUXD = '/usr/bin/influxd';

export interface Influxd {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The running influxd's process id (benchmarks read its CPU time from /proc). */
  pid(): number | undefined;
  /** What influxd logged so far (stderr), for failure messages. */
  log(): string;
  /** InfluxQL through `/query` (POST, so that CREATE/DROP work); throws on an error answer. */
  query(q: string, db?: string): Promise<InfluxSeries[]>;
  /** Line protocol through `/write`, precision ns. */
  write(lines: string, db: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

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

export interface InfluxdOptions {
  /** Turns on HTTP authentication; the admin user is created on the first start. */
  admin?: { username: string; password: string };
}

export async function startInfluxd(opts: InfluxdOptions = {}): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-influxd-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = ${opts.admin ? 'true' : 'false'}
  log-enabled = false
  pprof-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
`,
  );
  let child: ChildProcess | null = null;
  let stderr = '';
  const url = `http://127.0.0.1:${port}`;
  const auth = (): Record<string, string> =>
    opts.admin
      ? {
          authorization: `Basic ${Buffer.from(`${opts.admin.username}:${opts.admin.password}`).toString('base64')}`,
        }
      : {};

  async function ping(): Promise<boolean> {
    try {
      const r = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      return r.status === 204;
    } catch {
      return false;
    }
  }

  async function start(): Promise<void> {
    const c = spawn(INFLUXD, ['run', '-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    for (let i = 0; i < 300; i++) {
      if (c.exitCode !== null) throw new Error(`influxd exited with ${c.exitCode}:\n${stderr}`);
      if (await ping()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`influxd did not answer on ${url}:\n${stderr}`);
  }

  async function stop(): Promise<void> {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  }

  async function query(q: string, db?: string): Promise<InfluxSeries[]> {
    const body = new URLSearchParams({ q, epoch: 'ms', ...(db ? { db } : {}) });
    const r = await fetch(`${url}/query`, { method: 'POST', body, headers: auth() });
    const json = (await r.json()) as {
      error?: string;
      results?: { error?: string; series?: InfluxSeries[] }[];
    };
    const err = json.error ?? json.results?.find((x) => x.error)?.error;
    if (!r.ok || err) throw new Error(`influxd ${r.status} for ${q}: ${err ?? ''}`);
    return (json.results ?? []).flatMap((x) => x.series ?? []);
  }

  async function write(lines: string, db: string): Promise<void> {
    const r = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=ns`, {
      method: 'POST',
      body: lines,
      headers: auth(),
    });
    if (r.status !== 204) throw new Error(`influxd write ${r.status}: ${await r.text()}`);
  }

  await start();
  if (opts.admin) {
    // With auth on and no user yet, influxd accepts exactly CREATE USER … WITH ALL PRIVILEGES.
    const body = new URLSearchParams({
      q: `CREATE USER "${opts.admin.username}" WITH PASSWORD '${opts.admin.password}' WITH ALL PRIVILEGES`,
    });
    const r = await fetch(`${url}/query`, { method: 'POST', body });
    if (!r.ok) throw new Error(`influxd: creating the admin user failed: ${await r.text()}`);
  }
  return {
    port,
    url,
    dir,
    pid: () => child?.pid,
    log: () => stderr,
    query,
    write,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
