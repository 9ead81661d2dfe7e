/**
 * Issue 9, "hostile borders", through HTTP and the file system: the probes of a hostile client and
 * the mistakes of a careless operator, against a real collector listening on loopback.
 */
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import { AGENT, e2eConfig, PLATFORM_KEY, startChild, tempDir } from './helpers/e2e-collector.ts';
import { connect, publishAll } from './helpers/e2e-mqtt.ts';
import { captureLog } from './helpers/mqtt-harness.ts';
import { makePki } from './helpers/pki.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request (fetch would refuse or normalise the hostile URLs this file sends). */
function raw(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; tls?: { ca: Buffer } } = {},
): Promise<Answer> {
  const request = opts.tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ...(opts.tls ? { ca: opts.tls.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

const json = (a: Answer) => JSON.parse(a.body) as { error: { code: string; message: string } };

describe('the HTTP border', () => {
  const tmp = tempDir();
  const cap = captureLog('debug');
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = await build(
      { ...e2eConfig(tmp.dir, ['LAB-NMR-0001']), log: { level: 'debug' } },
      { logger: cap.log },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app.close();
    tmp.remove();
  });

  it('answers a path-traversal probe on /docs/static with 404 in the error format, no stack trace', async () => {
    for (const path of ['/docs/static/..', '/docs/static/../../package.json', '/docs/static/%2e%2e/x']) {
      const a = await raw(port, path);
      expect(a.status, path).toBe(404);
      expect(json(a).error.code, path).toBe('not_found');
      expect(a.body).not.toContain('"name"'); // no file content
    }
    expect(cap.lines().filter((l) => l.level === 50)).toEqual([]);
    // the UI itself is still served
    expect((await raw(port, '/docs/static/swagger-ui.css')).status).toBe(200);
  });

  it('answers bad percent-encoding and over-long URLs in the error format', async () => {
    const bad = await raw(port, '/v1/instruments/%zz', {
      headers: { authorization: `Bearer ${PLATFORM_KEY}` },
    });
    expect(bad.status).toBe(400);
    expect(json(bad).error).toMatchObject({ code: 'invalid_url', message: expect.stringContaining('%zz') });
    const long = await raw(port, `/v1/instruments?x=${'a'.repeat(20_000)}`);
    expect(long.status).toBe(431);
    expect(json(long).error.code).toBe('request_too_large');
    expect(long.headers['x-content-type-options']).toBe('nosniff');
  });

  it('refuses a text/plain body with 415, as the docs say', async () => {
    const a = await raw(port, '/v1/instruments/LAB-NMR-0001', {
      method: 'PUT',
      headers: { authorization: `Bearer ${PLATFORM_KEY}`, 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(a.status).toBe(415);
    expect(json(a).error.code).toBe('unsupported_media_type');
  });

  it('sends security headers on answers and errors', async () => {
    for (const path of ['/healthz', '/v1/instruments', '/nowhere', '/docs/static/swagger-ui.css']) {
      const a = await raw(port, path);
      expect(a.headers['x-content-type-options'], path).toBe('nosniff');
      expect(a.headers['x-frame-options'], path).toBe('DENY');
      expect(a.headers['referrer-policy'], path).toBe('no-referrer');
    }
  });

  it('never logs an API key given in the query string', async () => {
    const secret = 'query-secret-0123456789abcdef';
    await raw(port, `/v1/instruments?key=${secret}&limit=5&api_key=${secret}x&access_token=${secret}y`);
    const logged = cap.lines().filter((l) => JSON.stringify(l).includes('limit=5'));
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(cap.lines())).not.toContain(secret);
    expect(JSON.stringify(logged)).toContain('key=[redacted]');
  });
});

describe('HTTPS for the API, and agents with certificates', () => {
  const tmp = tempDir();
  let pki: ReturnType<typeof makePki>;
  beforeAll(() => {
    pki = makePki(tmp.dir);
  });
  afterAll(() => tmp.remove());

  it('serves the API over TLS with http.tls, and HSTS', async () => {
    const server = pki.issue('http', '127.0.0.1', 'serverAuth');
    const app = await build(
      { ...e2eConfig(tmp.dir, ['LAB-NMR-0001']), http: { host: '127.0.0.1', port: 0, tls: server } },
      { logger: false },
    );
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const ca = readFileSync(pki.ca);
      const a = await raw(port, '/v1/instruments', {
        tls: { ca },
        headers: { authorization: `Bearer ${PLATFORM_KEY}` },
      });
      expect(a.status).toBe(200);
      expect(a.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      // plain HTTP on that port is not answered as HTTP
      await expect(raw(port, '/healthz')).rejects.toThrow();
    } finally {
      await app.close();
    }
  });

  it('takes the certificate CN as the username of an agent (mutual TLS)', async () => {
    const server = pki.issue('mqtt', '127.0.0.1', 'serverAuth');
    const agentCert = pki.issue('agent', 'lab5-box1', 'clientAuth');
    const stranger = pki.issue('stranger', 'nobody-we-know', 'clientAuth');
    const config = e2eConfig(tmp.dir, ['LAB-NMR-0001']);
    const app = await build(
      {
        ...config,
        mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, ...server, ca: pki.ca } },
        // an agent with no password: only its certificate lets it in
        agents: [...config.agents, { username: 'lab5-box1', instruments: ['LAB-XRD-0005'] }],
      },
      { logger: false },
    );
    const tlsPort = app.dayi.mqttTlsPort!;
    const mqtt = await import('mqtt');
    const base = {
      host: '127.0.0.1',
      port: tlsPort,
      protocol: 'mqtts' as const,
      ca: readFileSync(pki.ca),
      servername: 'localhost',
      reconnectPeriod: 0,
      protocolVersion: 4 as const,
    };
    try {
      const c = await mqtt.connectAsync({
        ...base,
        clientId: 'lab5-box1:LAB-XRD-0005',
        cert: readFileSync(agentCert.cert),
        key: readFileSync(agentCert.key),
      });
      await c.publishAsync(
        'dayi/v1/LAB-XRD-0005/telemetry',
        JSON.stringify({ ts: Date.now() - 60_000, seq: 1, metrics: { power_w: 3 } }),
        { qos: 1 },
      );
      await c.endAsync();
      const row = app.dayi.ctx.db.prepare('SELECT username, client_id FROM messages').get();
      expect(row).toEqual({ username: 'lab5-box1', client_id: 'lab5-box1:LAB-XRD-0005' });
      // a certificate the CA signed for a name that is no agent: not authorized
      await expect(
        mqtt.connectAsync({
          ...base,
          clientId: 'nobody-we-know',
          cert: readFileSync(stranger.cert),
          key: readFileSync(stranger.key),
        }),
      ).rejects.toThrow(/Not authorized/i);
      // without a certificate the same agent has no password to give
      await expect(
        mqtt.connectAsync({
          ...base,
          clientId: 'lab5-box1:x',
          username: 'lab5-box1',
          password: 'whatever-1',
        }),
      ).rejects.toThrow(/Bad username or password/i);
      // password agents keep working on the TLS port without a certificate
      const p = await mqtt.connectAsync({ ...base, clientId: `${AGENT.username}:t`, ...AGENT });
      await p.endAsync();
    } finally {
      await app.close();
    }
  });
});

describe('store files', () => {
  it('creates the store folder 0700 and the SQLite files 0600 under umask 022, and warns of a readable config', async () => {
    const tmp = tempDir();
    try {
      const config = e2eConfig(`${tmp.dir}/store`, ['LAB-NMR-0001']);
      const c = await startChild(config, tmp.dir, { umask: '022', configMode: 0o644 });
      try {
        const client = await connect(c.mqttPort, AGENT);
        await publishAll(client, [
          {
            topic: 'dayi/v1/LAB-NMR-0001/telemetry',
            payload: JSON.stringify({ ts: Date.now() - 60_000, seq: 1, metrics: { power_w: 1 } }),
          },
        ]);
        await client.endAsync();
        const mode = (f: string) => (statSync(f).mode & 0o777).toString(8);
        expect(mode(`${tmp.dir}/store`)).toBe('700');
        for (const f of ['dayi.sqlite', 'dayi.sqlite-wal', 'dayi.sqlite-shm']) {
          expect(mode(`${tmp.dir}/store/${f}`), f).toBe('600');
        }
        expect(c.output()).toMatch(
          /collector\.yaml holds secrets \(apiKeys, agents passwords\) and is readable by every local user \(mode 0644\)/,
        );
      } finally {
        await c.close();
      }
    } finally {
      tmp.remove();
    }
  });
});
