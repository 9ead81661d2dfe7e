/**
 * Rate limits and CORS of the API (issue 11): per API key, else per address (so guessing keys is
 * slowed too), 429 rate_limited in the house error format with Retry-After; probes not counted.
 * CORS off unless origins are configured; then only those origins.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCollectorConfig } from '../src/config.ts';
import { auth, buildApi } from './helpers/e2e-api.ts';

describe('http.rateLimit', () => {
  let app: FastifyInstance;
  afterEach(async () => {
    await app?.close();
  });

  it('counts per API key, else per address; answers 429 rate_limited with Retry-After', async () => {
    app = await buildApi({
      http: { host: '127.0.0.1', port: 0, rateLimit: { perKey: 5, perAddress: 3, window: '1m' } },
    });
    const get = (headers: Record<string, string> = {}) =>
      app.inject({ method: 'GET', url: '/v1/instruments', headers });
    for (let i = 0; i < 5; i++) expect((await get(auth('platform'))).statusCode).toBe(200);
    const over = await get(auth('platform'));
    expect(over.statusCode).toBe(429);
    expect(over.json()).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(
          /^request: more than 5 requests from API key platform-key within 1 minute: retry after \d+ s/,
        ),
      },
    });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // another key has its own count
    expect((await get(auth('auditor'))).statusCode).toBe(200);
    // without a valid key: per address, and the limit holds for wrong keys too
    for (let i = 0; i < 3; i++)
      expect((await get({ authorization: `Bearer wrong-key-${i}-0123456789` })).statusCode).toBe(401);
    const guessing = await get({ authorization: 'Bearer wrong-key-x-0123456789' });
    expect(guessing.statusCode).toBe(429);
    expect(guessing.json().error.code).toBe('rate_limited');
    // probes are not the API
    for (let i = 0; i < 10; i++)
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('can be switched off', async () => {
    app = await buildApi({ http: { host: '127.0.0.1', port: 0, rateLimit: { enabled: false, perKey: 1 } } });
    for (let i = 0; i < 5; i++)
      expect(
        (await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('platform') })).statusCode,
      ).toBe(200);
  });
});

describe('http.cors', () => {
  let app: FastifyInstance;
  afterEach(async () => {
    await app?.close();
  });
  const preflight = (origin: string) =>
    app.inject({
      method: 'OPTIONS',
      url: '/v1/instruments',
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });

  it('is off by default: no Access-Control headers', async () => {
    app = await buildApi();
    const res = await app.inject({
      method: 'GET',
      url: '/v1/instruments',
      headers: { ...auth('platform'), origin: 'https://x.example' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect((await preflight('https://x.example')).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the configured origins only, preflight without a key', async () => {
    app = await buildApi({
      http: { host: '127.0.0.1', port: 0, cors: { origins: ['https://dash.example.edu.cn'] } },
    });
    const ok = await preflight('https://dash.example.edu.cn');
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://dash.example.edu.cn');
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/Authorization/i);
    const get = await app.inject({
      method: 'GET',
      url: '/v1/instruments',
      headers: { ...auth('platform'), origin: 'https://dash.example.edu.cn' },
    });
    expect(get.headers['access-control-allow-origin']).toBe('https://dash.example.edu.cn');
    const other = await preflight('https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses credentials with any origin', () => {
    expect(() =>
      parseCollectorConfig({
        http: { host: '127.0.0.1', port: 0, cors: { origins: ['*'], credentials: true } },
      }),
    ).toThrow(/credentials/);
  });
});
