import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const FIXTURE_USER = { userName: 'technician', password: 'Secr3t!' };
export const MACHINERY_URI = 'http://opcfoundation.org/UA/Machinery/';
export const DI_URI = 'http://opcfoundation.org/UA/DI/';
export const LADS_URI = 'http://opcfoundation.org/UA/LADS/';
export const VENDOR_URI = 'urn:dayi:test:vendor';

const SCRIPT = fileURLToPath(new URL('../fixtures/opcua/server.ts', import.meta.url));

export type FixtureVariable =
  | 'power'
  | 'itemState'
  | 'operationMode'
  | 'powerOnMs'
  | 'operationMs'
  | 'deviceState'
  | 'pumpState'
  | 'ovenState'
  | 'latePower'
  | 'addLatePower';

/** The fixture OPC UA server running in a child process (see fixtures/opcua/server.ts). */
export interface FixtureServer {
  readonly port: number;
  readonly endpoint: string;
  /** Node id of each variable in this run (they differ between variants). */
  readonly ids: Record<FixtureVariable, string>;
  set(name: FixtureVariable, value: number | string): Promise<void>;
  /** Closes every session server-side, as after a session timeout: clients see BadSessionIdInvalid. */
  dropSessions(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung server whose TCP connections stay open (no FIN, no RST). */
  pause(): void;
  resume(): void;
  /** SIGKILL (a crash, no goodbye to clients) or SIGTERM (orderly shutdown). */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
}

export interface FixtureOptions {
  pki: string;
  port?: number;
  /** 2 shifts every namespace index and numeric node id (browse names stay). */
  variant?: 1 | 2;
  startTimeoutMs?: number;
}

export async function startFixtureServer(opts: FixtureOptions): Promise<FixtureServer> {
  const child = spawn(
    process.execPath,
    [SCRIPT, '--port', String(opts.port ?? 0), '--pki', opts.pki, '--variant', String(opts.variant ?? 1)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  async function waitLine(pred: (l: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idx = lines.findIndex(pred);
      if (idx >= 0) return lines.splice(idx, 1)[0]!;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`OPC UA fixture exited while waiting for ${what}: ${stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`OPC UA fixture: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  let ready: string;
  try {
    ready = await waitLine((l) => l.startsWith('ready '), '"ready" line', opts.startTimeoutMs ?? 45_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const [, portText, idsJson] = /^ready (\d+) (.*)$/.exec(ready) ?? [];
  const port = Number(portText);
  return {
    port,
    ids: JSON.parse(idsJson ?? '{}') as Record<FixtureVariable, string>,
    endpoint: `opc.tcp://127.0.0.1:${port}`,
    async set(name, value) {
      child.stdin?.write(`${JSON.stringify({ set: name, value })}\n`);
      await waitLine((l) => l === `ok ${name}` || l.startsWith('error '), `ack of set ${name}`, 10_000);
    },
    async dropSessions() {
      child.stdin?.write(`${JSON.stringify({ dropSessions: true })}\n`);
      await waitLine((l) => l === 'ok dropSessions' || l.startsWith('error '), 'ack of dropSessions', 10_000);
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async kill(signal = 'SIGKILL') {
      if (signal === 'SIGTERM') child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export type { ChildProcess };
