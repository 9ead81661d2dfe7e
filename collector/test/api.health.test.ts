import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, buildApi } from './helpers/e2e-api.ts';

describe('/healthz, /metrics, /openapi.json, /docs', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi();
  });
  afterAll(async () => {
    await app.close();
  });

  it('/healthz answers ok with the MQTT port actually listened on', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', mqtt: { port: app.dayi.mqttPort }, store: 'ok' });
    expect(app.dayi.mqttPort).toBeGreaterThan(0);
  });

  it('/healthz answers 503 with the reason while the store refuses writes (disk full), and ok again after', async () => {
    const since = Date.UTC(2026, 11, 6, 5, 0);
    app.dayi.ctx.storeFailure = {
      reason: 'disk full (SQLITE_FULL): database or disk is full',
      since,
      refused: 12,
    };
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      status: 'error',
      mqtt: { port: app.dayi.mqttPort },
      store: 'error',
      storeError: {
        reason: 'disk full (SQLITE_FULL): database or disk is full',
        since: '2026-12-06T05:00:00.000Z',
        refused: 12,
      },
    });
    app.dayi.ctx.storeFailure = null;
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('/metrics serves Prometheus text with MQTT, ingest and HTTP figures', async () => {
    await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('platform') });
    await app.inject({ method: 'GET', url: '/no/such/route' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE dayi_mqtt_messages_total counter');
    expect(res.body).toContain('# TYPE dayi_ingest_commit_seconds histogram');
    expect(res.body).toMatch(
      /dayi_http_requests_total\{method="GET",route="\/v1\/instruments",status="200"\} 1/,
    );
    expect(res.body).toMatch(/dayi_http_requests_total\{method="GET",route="\(unmatched\)",status="404"\} 1/);
    expect(res.body).toContain('dayi_http_request_duration_seconds_bucket');
  });

  it('/openapi.json documents every v1 route with its parameters, bodies and bearer security', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/metrics',
        '/v1/idle',
        '/v1/instruments',
        '/v1/instruments/import',
        '/v1/instruments/{id}',
        '/v1/instruments/{id}/usage',
        '/v1/instruments/{id}/series',
        '/v1/reports/public-key',
        '/v1/reports/signatures/{sha256}',
        '/v1/reports/uptime',
        '/v1/bookings',
        '/v1/bookings/{bookingId}',
        '/v1/instruments/{id}/reconciliation',
        '/v1/reconciliation',
        '/v1/utilization',
        '/v1/purchase-review',
        '/v1/kpi/idle-trend',
        '/v1/notifications',
        '/v1/notifications/dead-letters',
        '/v1/notifications/dead-letters/{deliveryId}/retry',
        '/v1/agents',
        '/v1/agents/{username}',
        '/v1/agents/{username}/rotate',
        '/v1/alerts',
        '/v1/alerts/{id}',
        '/v1/alerts/{id}/ack',
        '/v1/alerts/{id}/resolve',
        '/v1/instruments/{id}/reports',
      ].sort(),
    );
    const usage = doc.paths['/v1/instruments/{id}/usage'].get;
    const params = usage.parameters.map(
      (p: { name: string; in: string; required?: boolean }) => `${p.in}:${p.name}:${p.required === true}`,
    );
    expect(params.sort()).toEqual(['path:id:true', 'query:from:true', 'query:to:true']);
    expect(usage.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(usage.responses).sort()).toEqual(['200', '400', '401', '403', '404']);
    const put = doc.paths['/v1/instruments/{id}'].put;
    const body = put.requestBody.content['application/json'].schema;
    expect(body.properties).toHaveProperty('thresholds');
    expect(body.required ?? []).not.toContain('id');
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/healthz'].get.security).toBeUndefined();
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { security?: unknown }>>,
    )) {
      if (!path.startsWith('/v1/')) continue;
      for (const op of Object.values(ops)) expect(op.security, path).toEqual([{ apiKey: [] }]);
    }
  });

  it('/docs serves the browsable UI', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('swagger');
  });

  it('/healthz answers 503 when the store cannot be read', async () => {
    const broken = await buildApi();
    broken.dayi.ctx.db.close();
    const res = await broken.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'error', store: 'error' });
    const api = await broken.inject({ method: 'GET', url: '/v1/instruments', headers: auth('platform') });
    expect(api.statusCode).toBe(503);
    expect(api.json()).toEqual({
      error: {
        code: 'store_unavailable',
        message: "store: cannot be read or written: retry later; the collector's log says why",
      },
    });
    await broken.close();
  });
});
