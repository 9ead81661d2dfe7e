import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/api/errors.ts';
import { auth, buildApi } from './helpers/e2e-api.ts';

describe('API errors', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi();
  });
  afterAll(async () => {
    await app.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url, headers: auth('platform') });
  const put = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'PUT',
      url,
      headers: { ...auth('platform'), 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  const cases: [string, () => ReturnType<typeof get>, number, string, RegExp][] = [
    ['unknown route', () => get('/v2/instruments'), 404, 'not_found', /GET \/v2\/instruments/],
    ['unknown instrument', () => get('/v1/instruments/NOPE-0001'), 404, 'instrument_not_found', /NOPE-0001/],
    [
      'usage of an unknown instrument',
      () => get('/v1/instruments/NOPE-0001/usage?from=2026-11-01&to=2026-11-02'),
      404,
      'instrument_not_found',
      /NOPE-0001/,
    ],
    ['invalid instrument id', () => get('/v1/instruments/-bad'), 400, 'invalid_params', /^path\.id: /],
    [
      'usage without from',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?to=2026-11-02'),
      400,
      'invalid_query',
      /query\.from/,
    ],
    [
      'a date that does not exist',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?from=2026-02-30&to=2026-03-02'),
      400,
      'invalid_query',
      /^query\.from: must be a date YYYY-MM-DD$/,
    ],
    [
      'to before from',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?from=2026-11-02&to=2026-11-01'),
      400,
      'invalid_query',
      /^query\.to: must not be before from$/,
    ],
    [
      'a period too long',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?from=2000-01-01&to=2026-11-01'),
      400,
      'invalid_query',
      /^query\.to: at most 366 days/,
    ],
    ['idle days not a number', () => get('/v1/idle?days=ninety'), 400, 'invalid_query', /^query\.days: /],
    ['idle days zero', () => get('/v1/idle?days=0'), 400, 'invalid_query', /^query\.days: /],
    ['page size too big', () => get('/v1/instruments?limit=100000'), 400, 'invalid_query', /^query\.limit: /],
    [
      'a body that is not JSON',
      () => put('/v1/instruments/X-1', '{"name":'),
      400,
      'invalid_body',
      /^body: not JSON/,
    ],
    [
      'thresholds out of order',
      () => put('/v1/instruments/X-1', { thresholds: { standby: 100, idle: 80, running: 400 } }),
      400,
      'invalid_body',
      /^body\.thresholds: thresholds must satisfy standby <= idle <= running$/,
    ],
    [
      'a wrong type',
      () => put('/v1/instruments/X-1', { quotaHours: 'many' }),
      400,
      'invalid_body',
      /^body\.quotaHours: /,
    ],
    [
      'an unknown field',
      () => put('/v1/instruments/X-1', { colour: 'red' }),
      400,
      'invalid_body',
      /^body\.colour: unknown field$/,
    ],
    [
      'a body id other than the path id',
      () => put('/v1/instruments/X-1', { id: 'X-2' }),
      400,
      'id_mismatch',
      /^body\.id: "X-2" is not the path id "X-1"$/,
    ],
    [
      'a body that is not JSON by content type',
      () => put('/v1/instruments/X-1', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported_media_type',
      /application\/json/,
    ],
  ];

  it.each(cases)('%s', async (_name, request, status, code, message) => {
    const res = await request();
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(message);
    expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status).toBe(status);
  });

  it('bad requests change nothing', async () => {
    const res = await get('/v1/instruments/X-1');
    expect(res.statusCode).toBe(404);
  });
});

describe('docs/api.md', () => {
  it('documents exactly the error table of errors.ts', () => {
    const md = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const documented = [...md.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|$/gm)].map((m) => [
      m[1],
      Number(m[2]),
      m[3],
    ]);
    const table = Object.entries(ERROR_CODES).map(([code, e]) => [code, e.status, e.description]);
    expect(documented).toEqual(table);
  });
});
