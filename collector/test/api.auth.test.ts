import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import { apiConfig, auth, buildApi, KEYS, memoryLogger } from './helpers/e2e-api.ts';

describe('API keys and roles', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi();
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers 401 with WWW-Authenticate: Bearer without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/instruments' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json()).toEqual({
      error: { code: 'unauthorized', message: expect.stringContaining('Bearer') },
    });
  });

  it('answers 401 for a key that is not configured, and for a malformed header', async () => {
    for (const authorization of [
      `Bearer ${KEYS.platform}x`,
      'Bearer short',
      `Basic ${KEYS.platform}`,
      KEYS.platform,
    ]) {
      const res = await app.inject({ method: 'GET', url: '/v1/idle', headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json().error.code).toBe('unauthorized');
    }
  });

  it('lets every role read', async () => {
    for (const role of Object.keys(KEYS) as (keyof typeof KEYS)[]) {
      const res = await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth(role) });
      expect(res.statusCode, role).toBe(200);
    }
  });

  it('lets only platform and admin write the registry; others get 403', async () => {
    const body = { name: 'XRD', org: 'Test University' };
    for (const role of ['manager', 'auditor', 'technician'] as const) {
      const res = await app.inject({
        method: 'PUT',
        url: '/v1/instruments/ZJ-XRD-0001',
        headers: auth(role),
        payload: body,
      });
      expect(res.statusCode, role).toBe(403);
      expect(res.json()).toEqual({
        error: {
          code: 'forbidden',
          message: `header.authorization: role ${role} may not registry:write: use a key of role platform or admin`,
        },
      });
    }
    expect(
      (await app.inject({ method: 'GET', url: '/v1/instruments/ZJ-XRD-0001', headers: auth('admin') }))
        .statusCode,
    ).toBe(404);
    for (const [role, status] of [
      ['platform', 201],
      ['admin', 200],
    ] as const) {
      const res = await app.inject({
        method: 'PUT',
        url: '/v1/instruments/ZJ-XRD-0001',
        headers: auth(role),
        payload: body,
      });
      expect(res.statusCode, role).toBe(status);
    }
  });

  it('checks the key before the request: a bad key on a bad request is still 401', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/instruments/ZJ-NMR-0001/usage?from=nope' });
    expect(res.statusCode).toBe(401);
  });

  it('needs no key for /healthz, /metrics, /openapi.json and /docs', async () => {
    for (const url of ['/healthz', '/metrics', '/openapi.json', '/docs']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode === 200 || res.statusCode === 302, url).toBe(true);
    }
  });
});

describe('secrets in logs', () => {
  it('never logs API keys or agent passwords, even at trace level', async () => {
    const mem = memoryLogger('trace');
    const app = await build(apiConfig({ log: { level: 'trace' } }), { logger: mem.logger });
    try {
      await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('platform') });
      await app.inject({
        method: 'GET',
        url: '/v1/instruments',
        headers: { authorization: 'Bearer wrong-key-0123456789abcdef' },
      });
      await app.inject({ method: 'GET', url: '/nope', headers: auth('admin') });
    } finally {
      await app.close();
    }
    const logged = mem.text();
    expect(logged).toContain('/v1/instruments'); // requests are logged at trace...
    for (const secret of [...Object.values(KEYS), 'wrong-key-0123456789abcdef', 'agent-password-1']) {
      expect(logged).not.toContain(secret); // ...but no secret is
    }
  });
});
