import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertChange } from './helpers/alerts.ts';
import { apiConfig } from './helpers/e2e-api.ts';
import { tempDir } from './helpers/e2e-collector.ts';
import { type Receiver, startReceiver } from './helpers/receivers.ts';

const CHILD = new URL('./helpers/notify-child.ts', import.meta.url).pathname;

interface Child {
  proc: ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

function startChild(configFile: string): Child {
  const proc = spawn(process.execPath, [CHILD, configFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
    for (const w of waiters.splice(0)) w();
  });
  return {
    proc,
    lines,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`no line ${pattern} in ${lines.join(' | ')}`)),
          timeoutMs,
        );
        const check = () => {
          if (lines.some((l) => pattern.test(l))) {
            clearTimeout(deadline);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exited = (p: ChildProcess) =>
  new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

describe('notifications are durable: kill -9 of the collector loses none', () => {
  let receiver: Receiver;
  const tmp = tempDir();
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    tmp.remove();
  });

  it('queued while the receiver fails or hangs, killed with SIGKILL, restarted: every notification arrives', async () => {
    // Phase 1: the first request hangs (in flight when the process dies), the rest get 500.
    let first = true;
    receiver.answer = () => {
      if (first) {
        first = false;
        return { hang: true };
      }
      return { status: 500 };
    };
    const store = join(tmp.dir, 'dayi.sqlite');
    const configFile = join(tmp.dir, 'collector.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        apiConfig({
          store: { sqlite: store, sync: 'full' },
          notify: {
            channels: [
              {
                name: 'ops',
                type: 'webhook',
                url: `${receiver.url}/hook`,
                secret: 'whsec-0123456789abcdef',
                timeout: '60s',
              },
            ],
            routes: [{ channels: ['ops'] }],
            retry: { attempts: 50, initialDelay: '50ms', maxDelay: '200ms' },
            pollEvery: '50ms',
            concurrency: 2,
          },
        }),
      ),
    );
    const N = 20;
    const a = startChild(configFile);
    await a.waitFor(/^ready$/);
    const now = Date.now();
    for (let i = 0; i < N; i++) {
      a.proc.stdin!.write(
        `${JSON.stringify(alertChange('opened', now, { id: `al-${i}`, instrumentId: `I-${i}` }))}\n`,
      );
    }
    await a.waitFor(new RegExp(`^queued ${N}$`));
    // Attempts are under way (one hangs, others fail): kill -9 now.
    await until(() => receiver.received.length >= 3, 'first attempts');
    a.proc.kill('SIGKILL');
    await exited(a.proc);

    // Phase 2: the receiver works; the restarted collector delivers every queued notification.
    receiver.answer = () => ({ status: 200 });
    const phase2 = Date.now();
    const delivered = new Set<string>();
    const b = startChild(configFile);
    await b.waitFor(/^ready$/);
    await until(() => {
      for (const r of receiver.received)
        if (r.at >= phase2 && r.headers['idempotency-key'])
          delivered.add(String(r.headers['idempotency-key']));
      return delivered.size === N;
    }, `${N} distinct deliveries`);
    b.proc.kill('SIGTERM');
    await exited(b.proc);

    const db = new DatabaseSync(store, { readOnly: true });
    const rows = db.prepare('SELECT status, COUNT(*) AS n FROM notify_deliveries GROUP BY status').all();
    db.close();
    expect(rows).toEqual([{ status: 'delivered', n: N }]);
    // Every alert is among the bodies received (at least once; a delivery cut off by the kill is sent again).
    const alerts = new Set(receiver.received.filter((r) => r.body).map((r) => JSON.parse(r.body).alert.id));
    expect(alerts.size).toBe(N);
  });
});
