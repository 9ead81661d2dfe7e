import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import type { CollectorConfigInput } from '../src/config.ts';
import { waitFor } from './helpers/e2e-collector.ts';
import { startInfluxd } from './helpers/influxd.ts';

/**
 * What influxd 1.6 cannot be made to answer (429/503 with Retry-After, 413, a 400 for one line, the
 * v2 write endpoint) comes from a scripted HTTP server on loopback that records each request; the
 * rest runs against the real influxd (authentication).
 */

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  lines: string[];
  status: number;
}

async function scripted(
  answer: (req: Recorded, n: number) => { status: number; headers?: Record<string, string>; body?: string },
) {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        lines: text.split('\n').filter((l) => l.length > 0),
        status: 0,
      };
      const a = answer(rec, requests.length);
      rec.status = a.status;
      requests.push(rec);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const dirs: string[] = [];
const apps: FastifyInstance[] = [];
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function collector(influx: CollectorConfigInput['influx']) {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-retry-'));
  dirs.push(dir);
  const app = await build(
    { mqtt: { port: 0 }, store: { sqlite: join(dir, 'dayi.sqlite') }, influx },
    { logger: false },
  );
  apps.push(app);
  return app;
}

async function telemetry(app: FastifyInstance, n: number, id = 'RT-0001'): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, seq) =>
      app.dayi.ingest.submit({
        topic: `dayi/v1/${id}/telemetry`,
        payload: Buffer.from(
          JSON.stringify({ ts: 1_764_380_000_000 + seq * 1000, seq, metrics: { power_w: seq } }),
        ),
        clientId: 'c',
        username: 'u',
        allowedInstruments: 'all',
        receivedAt: Date.now(),
      }),
    ),
  );
}

const writes = (rs: Recorded[]) =>
  rs.filter((r) => r.url.startsWith('/write') || r.url.startsWith('/api/v2/write'));
const seqOf = (line: string) => Number(/seq=(\d+)i/.exec(line)?.[1]);

describe('InfluxDB shipper retries', () => {
  it('honours Retry-After of a 503, then sends everything in order, gzip, at most 5,000 lines a request', async () => {
    const server = await scripted((_r, n) =>
      n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 204 },
    );
    servers.push(server);
    const app = await collector({ url: server.url, database: 'd', flushEvery: '100ms' });
    await telemetry(app, 12_000);
    await app.dayi.ctx.exports!.influx!.flush();
    const w = writes(server.requests);
    expect(w.some((r) => r.status === 503)).toBe(true);
    const ok = w.filter((r) => r.status === 204);
    for (const r of w) {
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.lines.length).toBeLessThanOrEqual(5000);
      expect(r.url).toContain('precision=ns');
    }
    const seqs = ok.flatMap((r) => r.lines.filter((l) => l.startsWith('telemetry')).map(seqOf));
    expect(seqs).toEqual(Array.from({ length: 12_000 }, (_, i) => i));
    const failed = w.findIndex((r) => r.status === 503);
    // after the 503 the same batch is sent again: nothing skipped
    expect(w[failed + 1]!.lines).toEqual(w[failed]!.lines);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/dayi_influx_write_failures_total\{reason="http_503"\} 1/);
  });

  it('sends halves after a 413, and drops only the line a 400 refuses', async () => {
    const server = await scripted((r) => {
      if (r.lines.length > 700) return { status: 413, body: '{"error":"Request Entity Too Large"}' };
      if (r.lines.some((l) => l.includes('seq=1234i'))) {
        return { status: 400, body: '{"error":"partial write: field type conflict dropped=1"}' };
      }
      return { status: 204 };
    });
    servers.push(server);
    const app = await collector({ url: server.url, database: 'd', flushEvery: '100ms', gzip: false });
    await telemetry(app, 3000);
    await app.dayi.ctx.exports!.influx!.flush();
    const delivered = new Set(
      writes(server.requests)
        .filter((r) => r.status === 204)
        // telemetry only: alert points (the detectors run too) carry no seq
        .flatMap((r) => r.lines.filter((l) => l.startsWith('telemetry')).map(seqOf)),
    );
    expect(delivered.size).toBe(2999);
    expect(delivered.has(1234)).toBe(false);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/dayi_influx_rejected_lines_total 1/);
    expect(writes(server.requests).every((r) => r.headers['content-encoding'] === undefined)).toBe(true);
  });

  it('writes through @influxdata/influxdb-client to /api/v2/write with a token when api is v2', async () => {
    const server = await scripted(() => ({ status: 204 }));
    servers.push(server);
    const app = await collector({
      url: server.url,
      api: 'v2',
      org: 'zj',
      bucket: 'dayi',
      token: 'tok-123',
      flushEvery: '100ms',
      gzip: true,
    });
    await telemetry(app, 10);
    await app.dayi.ctx.exports!.influx!.flush();
    const w = writes(server.requests);
    expect(w.length).toBeGreaterThan(0);
    expect(w[0]!.url).toBe('/api/v2/write?org=zj&bucket=dayi&precision=ns');
    expect(w[0]!.headers.authorization).toBe('Token tok-123');
    expect(w[0]!.headers['content-encoding']).toBe('gzip');
    expect(
      w
        .flatMap((r) => r.lines)
        .filter((l) => l.startsWith('telemetry'))
        .map(seqOf),
    ).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('authenticates to a real influxd with a username and password, and reports a wrong one', async () => {
    const influxd = await startInfluxd({ admin: { username: 'admin', password: 'admin-password' } });
    servers.push(influxd);
    const app = await collector({
      url: influxd.url,
      database: 'authdb',
      username: 'admin',
      password: 'admin-password',
      flushEvery: '100ms',
    });
    await telemetry(app, 100);
    await app.dayi.ctx.exports!.influx!.flush();
    const count = await influxd.query('SELECT count(seq) FROM telemetry', 'authdb');
    expect(count[0]!.values[0]![1]).toBe(100);

    const wrong = await collector({
      url: influxd.url,
      database: 'authdb',
      username: 'admin',
      password: 'nope',
      flushEvery: '100ms',
    });
    await telemetry(wrong, 1);
    const health = await waitFor(
      'the shipper to report the refused credentials',
      async () =>
        (await wrong.inject({ url: '/healthz' })).json() as {
          status: string;
          influx: { status: string; lastError: string };
        },
      (h) => h.influx.status === 'failing',
      30_000,
    );
    expect(health.status).toBe('ok');
    expect(health.influx.status).toBe('failing');
    expect(health.influx.lastError).toMatch(/401/);
    expect(JSON.stringify(health)).not.toContain('nope');
  });
});
