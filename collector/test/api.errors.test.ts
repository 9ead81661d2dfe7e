import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/api/errors.ts';
import { auth, buildApi } from './helpers/e2e-api.ts';

/** "where: what was wrong: what to do", or a misspelling with the name that was meant. */
const VOICE =
  /^((path|query|body|header)\.[\w.-]+|body|route|store|server): .+(: .+| \(did you mean `[\w.-]+`\?\))$/;

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
      /^query\.from: "2026-02-30" is not a date: use YYYY-MM-DD, e\.g\. 2026-11-01$/,
    ],
    [
      'to before from',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?from=2026-11-02&to=2026-11-01'),
      400,
      'invalid_query',
      /^query\.to: 2026-11-01 is before from 2026-11-02: use a date on or after from$/,
    ],
    [
      'a period too long',
      () => get('/v1/instruments/ZJ-NMR-0001/usage?from=2000-01-01&to=2026-11-01'),
      400,
      'invalid_query',
      /^query\.to: the period spans 9802 days: ask for at most 366 days at a time$/,
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
      /^body\.thresholds: standby 100, idle 80, running 400 do not rise: use standby <= idle <= running$/,
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
      /^body\.colour: unknown field `colour`: remove it; allowed here are id, name, org, /,
    ],
    [
      'a body id other than the path id',
      () => put('/v1/instruments/X-1', { id: 'X-2' }),
      400,
      'id_mismatch',
      /^body\.id: "X-2" is not the path id "X-1": leave id out of the body, or make it the path's$/,
    ],
    [
      'an empty name',
      () => put('/v1/instruments/X-1', { name: '', org: 'Org' }),
      400,
      'invalid_body',
      /^body\.name: is empty: give a value, or leave the field out$/,
    ],
    [
      'a blank org',
      () => put('/v1/instruments/X-1', { name: 'XRD', org: '   ' }),
      400,
      'invalid_body',
      /^body\.org: is empty: give a value, or leave the field out$/,
    ],
    [
      'an unknown signal',
      () =>
        put('/v1/instruments/X-1', { thresholds: { signal: 'powr_w', standby: 5, idle: 80, running: 400 } }),
      400,
      'invalid_body',
      /^body\.thresholds\.signal: unknown signal "powr_w" \(did you mean `power_w`\?\): thresholds classify one of power_w, /,
    ],
    [
      'a misspelt field inside thresholds',
      () => put('/v1/instruments/X-1', { thresholds: { standby: 5, idel: 80, idle: 80, running: 400 } }),
      400,
      'invalid_body',
      /^body\.thresholds\.idel: unknown field `idel` \(did you mean `idle`\?\)$/,
    ],
    [
      'a cursor of blanks',
      () => get('/v1/instruments?cursor=%20%20'),
      400,
      'invalid_query',
      /^query\.cursor: " {2}" is not a cursor: pass the `next` of the previous page, or leave cursor out/,
    ],
    [
      'a cursor that is no instrument id',
      () => get(`/v1/instruments?cursor=${encodeURIComponent("' OR 1=1 --")}`),
      400,
      'invalid_query',
      /^query\.cursor: "' OR 1=1 --" is not a cursor: /,
    ],
    [
      'a misspelt query parameter',
      () => get('/v1/instruments?limt=5'),
      400,
      'invalid_query',
      /^query\.limt: unknown parameter `limt` \(did you mean `limit`\?\)$/,
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

  it('speaks with one voice: where, what was wrong, what to do', async () => {
    const anonymous = (url: string, headers: Record<string, string> = {}) =>
      app.inject({ method: 'GET', url, headers });
    const answers = await Promise.all([
      ...cases.map(([, request]) => request()),
      anonymous('/v1/instruments'),
      anonymous('/v1/instruments', { authorization: 'Bearer not-a-configured-key' }),
      app.inject({ method: 'PUT', url: '/v1/instruments/X-1', headers: auth('auditor'), payload: {} }),
      put('/v1/instruments/X-1', ''),
      // the routes of alerts, bookings, figures, reports, series and notifications speak the same way
      ...[
        '/v1/alerts?status=opn',
        '/v1/alerts?from=yesterday',
        '/v1/alerts?from=2026-02-01&to=2026-01-01',
        '/v1/alerts/nope',
        '/v1/utilization?from=2026-01-01&to=2026-02-01&groupBy=lab',
        '/v1/utilization?from=2026-13-01&to=2026-02-01',
        '/v1/purchase-review',
        '/v1/kpi/idle-trend?from=2026-01-01&to=2025-01-01',
        '/v1/reports/uptime?from=2026-01-01&to=2026-02-01&format=doc',
        '/v1/reports/signatures/abc',
        '/v1/bookings?instrumentId=NOPE-1&from=2026-01-01&to=2026-01-02',
        '/v1/instruments/X-1/series?metric=power_w&every=0s',
        '/v1/notifications?status=lost',
        '/v1/reconciliation?from=2026-01-01',
      ].map((url) => app.inject({ method: 'GET', url, headers: auth('admin') })),
      app.inject({ method: 'POST', url: '/v1/alerts/nope/ack', headers: auth('admin'), payload: {} }),
      app.inject({
        method: 'POST',
        url: '/v1/instruments/X-1/reports',
        headers: auth('admin'),
        payload: { text: ' ' },
      }),
      app.inject({
        method: 'POST',
        url: '/v1/notifications/dead-letters/nope/retry',
        headers: auth('admin'),
        payload: {},
      }),
      app.inject({ method: 'DELETE', url: '/v1/bookings/nope', headers: auth('admin') }),
      put('/v1/bookings', { not: 'a list' }),
    ]);
    const unclear: string[] = [];
    for (const res of answers) {
      const { message } = res.json().error as { message: string };
      if (
        !message.split(/; (?=(?:path|query|body|header|route|store|server)[.:])/).every((p) => VOICE.test(p))
      )
        unclear.push(message);
      // zod's own wording never reaches a user.
      expect(message).not.toMatch(/Invalid input|Too (big|small)|expected \w+, received|Unrecognized key/);
    }
    // Several problems of one request are joined by "; ", each in the same form.
    expect(unclear).toEqual([]);
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
