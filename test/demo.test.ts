import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

/** Holds 127.0.0.1:port, or finds it held already (by another broker or server): taken either way. */
async function occupy(port: number): Promise<Server | null> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' ? resolve(null) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('dayi demo (npm start)', () => {
  let child: ChildProcess | undefined;
  const held: (Server | null)[] = [];
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child!.once('exit', r));
    }
    for (const s of held) s?.close();
  });

  it('starts with ports 1883 and 8080 both taken, and serves the simulated fleet, its idle instrument and the one that never reports', async () => {
    // A new user's machine often runs a Mosquitto on 1883 and something else on 8080.
    held.push(await occupy(1883), await occupy(8080));
    const data = mkdtempSync(join(tmpdir(), 'dayi-demo-'));
    child = spawn(process.execPath, [join(ROOT, 'bin/dayi.js'), 'demo', '--data', data, '--days', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stdout = '';
    child.stdout!.on('data', (b) => {
      out += b;
      stdout += b;
    });
    child.stderr!.on('data', (b) => {
      out += b;
    });
    const deadline = Date.now() + 120_000;
    while (!/API key +(\S+)/.test(out)) {
      if (child.exitCode !== null) throw new Error(`demo exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`demo printed no API key within 120 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(out).toContain('MQTT port 1883 is in use; using a free port instead.');
    expect(out).toContain('HTTP port 8080 is in use; using a free port instead.');
    const key = /API key +(\S+)/.exec(out)![1]!;
    const api = /API +(http:\/\/\S+)\/v1\/instruments/.exec(out)![1]!;
    expect(out).toMatch(/API docs +http:\/\/\S+\/docs/);
    // `npm start` opens on the web page: its URL is the first line printed, and it is served.
    const page = /^dayi demo: web dashboard (http:\/\/\S+\/) /.exec(stdout.split('\n')[0]!)?.[1];
    expect(page, stdout).toBe(`${api}/`);
    expect(out).toContain(`Web page ${api}/`);
    const html = await fetch(page!);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toContain('<div id="app">');
    const get = async (path: string) => {
      const r = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${key}` } });
      expect(r.status, path).toBe(200);
      return r.json() as Promise<Record<string, unknown>>;
    };
    const list = (await get('/v1/instruments?limit=100')) as { items: { id: string }[] };
    // (the crashed agent's instrument reported before it crashed: 20 in all)
    expect(list.items).toHaveLength(20);
    const idle = (await get('/v1/idle?days=90')) as {
      items: { id: string; idleDays: number }[];
      neverReported: { id: string }[];
    };
    expect(idle.items.map((i) => i.id)).toEqual(['ZJ-RAMAN-0001']);
    expect(idle.items[0]!.idleDays).toBeGreaterThanOrEqual(120);
    expect(idle.neverReported.map((i) => i.id)).toEqual(['ZJ-DSC-0001']);
    const nmr = (await get('/v1/instruments/ZJ-NMR-0001/usage?from=2020-01-01&to=2020-01-01')) as {
      poweredHours: number;
    };
    expect(nmr.poweredHours).toBe(0);
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
    const usage = (await get(`/v1/instruments/ZJ-SEQ-0001/usage?from=${today}&to=${today}`)) as {
      poweredHours: number;
      coverage: number;
    };
    // The sequencer runs around the clock: powered for today's elapsed part, with evidence.
    expect(usage.coverage).toBeGreaterThan(0);
    // Alerts of every kind: the crashed agent, the history's incidents, the idle Raman, a report.
    const alerts = (await get('/v1/alerts?limit=200')) as {
      items: { kind: string; type: string; instrumentId: string; status: string }[];
    };
    const kinds = new Set(alerts.items.map((a) => a.kind));
    expect([...kinds].sort()).toEqual(['anomaly', 'idle', 'offline', 'reported']);
    const has = (kind: string, type: string, id: string) =>
      alerts.items.some((a) => a.kind === kind && a.type === type && a.instrumentId === id);
    expect(has('offline', 'offline', 'ZJ-AFM-0001')).toBe(true);
    expect(has('idle', 'idle', 'ZJ-RAMAN-0001')).toBe(true);
    expect(has('reported', 'reported', 'ZJ-SEM-0001')).toBe(true);
    expect(has('anomaly', 'vendor_fault', 'ZJ-XRD-0001')).toBe(true);
    expect(has('anomaly', 'data_gap', 'ZJ-MS-0002')).toBe(true);
    expect(has('anomaly', 'long_run', 'ZJ-SEQ-0001')).toBe(true);
    expect(has('anomaly', 'clock_skew', 'ZJ-ICP-0001')).toBe(true);
  });
});
