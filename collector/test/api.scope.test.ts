/**
 * Org scoping on every route (issue 11): walks the route list of /docs/json with keys of each role
 * scoped to one of two orgs. On every /v1 route a missing key is 401; a route with an org dimension
 * refuses the other org (404 for its resources, 403 for its org filter, a rejected row for its
 * batch rows) and serves the caller's own; answers to a scoped key never mention the other org.
 * A route this test has no parameters for fails it, so no route is added unscoped unnoticed.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Permission, ROLE_PERMISSIONS } from '../src/api/auth.ts';
import { build } from '../src/app.ts';
import { ROLES, type Role } from '../src/config.ts';
import { apiConfig } from './helpers/e2e-api.ts';

const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const ORG = { A: 'Alpha University', B: 'Beta Institute' } as const;
type Side = keyof typeof ORG;
const INSTRUMENT: Record<Side, string> = { A: 'ORGA-1', B: 'ORGB-1' };
/** What no answer to a key of org A may contain. */
const B_MARKS = ['ORGB-', ORG.B];

const keyOf = (role: Role, side: Side) => `${role}-${side}-key-0123456789abcdef`;
const ADMIN = 'unscoped-admin-key-0123456789abcdef';

type Kind = 'instrument' | 'filtered' | 'rows' | 'owned' | 'none';
interface RouteCase {
  permission: Permission;
  kind: Kind;
  /** The request for a resource of `side` (filtered: the list as the caller asks it, with `org` of side). */
  request: (side: Side, withOrg?: boolean) => InjectOptions;
  /** Run (with the unscoped key) before each request that changes state, so each one has something to act on. */
  prepare?: (side: Side) => Promise<void>;
  /** Statuses that mean "served": the request passed the scope and reached the handler. */
  ok?: number[];
}

const period = 'from=2026-11-01&to=2026-11-28';

describe('org scoping on every /v1 route', () => {
  let app: FastifyInstance;
  const alertOf: Record<Side, string> = { A: '', B: '' };
  const reportSha: Record<Side, string> = { A: '', B: '' };
  const deliveryOf: Record<Side, number> = { A: 0, B: 0 };
  let bookingSeq = 0;
  const bookingOf: Record<Side, string> = { A: '', B: '' };
  let agentSeq = 0;
  const agentToDelete: Record<Side, string> = { A: '', B: '' };

  const asAdmin = (opts: InjectOptions) =>
    app.inject({ ...opts, headers: { ...opts.headers, authorization: `Bearer ${ADMIN}` } });

  const newBooking = async (side: Side) => {
    const id = `bk-${side}-${++bookingSeq}`;
    const res = await asAdmin({
      method: 'PUT',
      url: '/v1/bookings',
      payload: [
        {
          id,
          instrumentId: INSTRUMENT[side],
          start: '2026-11-20T09:00:00+08:00',
          end: '2026-11-20T11:00:00+08:00',
        },
      ],
    });
    expect(res.json().created).toBe(1);
    bookingOf[side] = id;
  };

  const ROUTES: Record<string, RouteCase> = {
    'GET /v1/instruments': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q('/v1/instruments', s, o),
    },
    'PUT /v1/instruments/{id}': {
      permission: 'registry:write',
      kind: 'instrument',
      request: (s) => ({
        method: 'PUT',
        url: `/v1/instruments/${INSTRUMENT[s]}`,
        payload: { name: `instrument of ${s}`, org: ORG[s], category: 'NMR' },
      }),
    },
    'POST /v1/instruments/import': {
      permission: 'registry:write',
      kind: 'rows',
      request: (s) => ({
        method: 'POST',
        url: '/v1/instruments/import',
        payload: [{ id: INSTRUMENT[s], org: ORG[s], name: `imported ${s}`, category: 'NMR' }],
      }),
    },
    'GET /v1/instruments/{id}': {
      permission: 'read',
      kind: 'instrument',
      request: (s) => get(`/v1/instruments/${INSTRUMENT[s]}`),
    },
    'GET /v1/instruments/{id}/usage': {
      permission: 'read',
      kind: 'instrument',
      request: (s) => get(`/v1/instruments/${INSTRUMENT[s]}/usage?${period}`),
    },
    'GET /v1/instruments/{id}/series': {
      permission: 'read',
      kind: 'instrument',
      request: (s) => get(`/v1/instruments/${INSTRUMENT[s]}/series`),
    },
    'GET /v1/instruments/{id}/reconciliation': {
      permission: 'read',
      kind: 'instrument',
      request: (s) => get(`/v1/instruments/${INSTRUMENT[s]}/reconciliation?${period}`),
    },
    'POST /v1/instruments/{id}/reports': {
      permission: 'alerts:report',
      kind: 'instrument',
      request: (s) => ({
        method: 'POST',
        url: `/v1/instruments/${INSTRUMENT[s]}/reports`,
        payload: { text: 'loud pump' },
      }),
    },
    'GET /v1/idle': { permission: 'read', kind: 'filtered', request: (s, o) => q('/v1/idle', s, o) },
    'GET /v1/alerts': { permission: 'read', kind: 'filtered', request: (s, o) => q('/v1/alerts', s, o) },
    'GET /v1/alerts/{id}': {
      permission: 'read',
      kind: 'owned',
      request: (s) => get(`/v1/alerts/${alertOf[s]}`),
    },
    'POST /v1/alerts/{id}/ack': {
      permission: 'alerts:ack',
      kind: 'owned',
      request: (s) => ({ method: 'POST', url: `/v1/alerts/${alertOf[s]}/ack`, payload: {} }),
      ok: [200, 409],
    },
    'POST /v1/alerts/{id}/resolve': {
      permission: 'alerts:ack',
      kind: 'owned',
      request: (s) => ({ method: 'POST', url: `/v1/alerts/${alertOf[s]}/resolve`, payload: {} }),
      ok: [200, 409],
    },
    'PUT /v1/bookings': {
      permission: 'bookings:write',
      kind: 'rows',
      request: (s) => ({
        method: 'PUT',
        url: '/v1/bookings',
        payload: [
          {
            id: `batch-${s}`,
            instrumentId: INSTRUMENT[s],
            start: '2026-11-21T09:00:00+08:00',
            end: '2026-11-21T10:00:00+08:00',
          },
        ],
      }),
    },
    'GET /v1/bookings': {
      permission: 'read',
      kind: 'owned',
      request: (s) => get(`/v1/bookings?instrumentId=${INSTRUMENT[s]}&${period}`),
    },
    'DELETE /v1/bookings/{bookingId}': {
      permission: 'bookings:write',
      kind: 'owned',
      prepare: newBooking,
      request: (s) => ({ method: 'DELETE', url: `/v1/bookings/${bookingOf[s]}` }),
    },
    'GET /v1/reconciliation': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q(`/v1/reconciliation?${period}`, s, o),
    },
    'GET /v1/utilization': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q(`/v1/utilization?${period}`, s, o),
    },
    'GET /v1/purchase-review': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q('/v1/purchase-review?category=NMR', s, o),
    },
    'GET /v1/kpi/idle-trend': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q('/v1/kpi/idle-trend?from=2026-10-01&to=2026-11-28&groupBy=org', s, o),
    },
    'GET /v1/notifications': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q('/v1/notifications', s, o),
    },
    'GET /v1/notifications/dead-letters': {
      permission: 'read',
      kind: 'filtered',
      request: (s, o) => q('/v1/notifications/dead-letters', s, o),
    },
    'POST /v1/notifications/dead-letters/{deliveryId}/retry': {
      permission: 'notifications:manage',
      kind: 'owned',
      prepare: async (s) => {
        app.dayi.ctx.db
          .prepare("UPDATE notify_deliveries SET status = 'dead' WHERE id = ?")
          .run(deliveryOf[s]);
      },
      request: (s) => ({ method: 'POST', url: `/v1/notifications/dead-letters/${deliveryOf[s]}/retry` }),
    },
    'GET /v1/reports/uptime': {
      permission: 'reports:read',
      kind: 'filtered',
      request: (s, o) => q(`/v1/reports/uptime?${period}&format=csv&lang=en`, s, o),
    },
    'GET /v1/reports/signatures/{sha256}': {
      permission: 'reports:read',
      kind: 'owned',
      request: (s) => get(`/v1/reports/signatures/${reportSha[s]}`),
    },
    'POST /v1/agents': {
      permission: 'agents:register',
      kind: 'instrument',
      request: (s) => ({ method: 'POST', url: '/v1/agents', payload: { instruments: [INSTRUMENT[s]] } }),
    },
    'GET /v1/agents': {
      permission: 'agents:register',
      kind: 'filtered',
      request: (s, o) => q('/v1/agents', s, o),
    },
    'POST /v1/agents/{username}/rotate': {
      permission: 'agents:register',
      kind: 'owned',
      request: (s) => ({ method: 'POST', url: `/v1/agents/agent-${s}/rotate` }),
    },
    'DELETE /v1/agents/{username}': {
      permission: 'agents:register',
      kind: 'owned',
      prepare: async (s) => {
        const name = `gone-${s}-${++agentSeq}`;
        const res = await asAdmin({
          method: 'POST',
          url: '/v1/agents',
          payload: { instruments: [INSTRUMENT[s]], username: name },
        });
        expect(res.statusCode).toBe(201);
        agentToDelete[s] = name;
      },
      request: (s) => ({ method: 'DELETE', url: `/v1/agents/${agentToDelete[s]}` }),
    },
    'GET /v1/reports/public-key': {
      permission: 'read',
      kind: 'none',
      request: () => get('/v1/reports/public-key'),
    },
  };

  function get(url: string): InjectOptions {
    return { method: 'GET', url };
  }
  /** A list or aggregate: with `withOrg`, asking for the org of `side` explicitly. */
  function q(url: string, side: Side, withOrg = true): InjectOptions {
    if (!withOrg) return get(url);
    return get(`${url}${url.includes('?') ? '&' : '?'}org=${encodeURIComponent(ORG[side])}`);
  }

  beforeAll(async () => {
    const apiKeys = [
      { name: 'unscoped-admin', key: ADMIN, role: 'admin' as const },
      ...ROLES.flatMap((role) =>
        (['A', 'B'] as const).map((side) => ({
          name: `${role}-${side}`,
          key: keyOf(role, side),
          role,
          org: ORG[side],
        })),
      ),
    ];
    app = await build(
      apiConfig({
        apiKeys,
        agents: [],
        instruments: [
          { id: 'ORGA-1', name: 'NMR A', org: ORG.A, category: 'NMR' },
          { id: 'ORGA-2', name: 'XRD A', org: ORG.A, category: 'XRD' },
          { id: 'ORGB-1', name: 'NMR B', org: ORG.B, category: 'NMR' },
        ],
        alerts: { reorderWait: 0 },
      }),
      { logger: false, now: () => NOW, notifyAutoStart: false },
    );
    for (const side of ['A', 'B'] as const) {
      const rep = await asAdmin({
        method: 'POST',
        url: `/v1/instruments/${INSTRUMENT[side]}/reports`,
        payload: { text: 'smoke' },
      });
      expect(rep.statusCode).toBe(201);
      alertOf[side] = rep.json().id;
      await newBooking(side);
      const report = await asAdmin(
        get(`/v1/reports/uptime?${period}&format=csv&org=${encodeURIComponent(ORG[side])}`),
      );
      expect(report.statusCode).toBe(200);
      reportSha[side] = String(report.headers['x-dayi-report-sha256']);
      const ins = app.dayi.ctx.db
        .prepare(
          `INSERT INTO notify_deliveries (idempotency_key, channel, event, alert_id, instrument_id, org, payload, status, next_attempt_at, created_at)
           VALUES (?, 'ops', 'alert.opened', ?, ?, ?, '{}', 'dead', ?, ?)`,
        )
        .run(`k-${side}`, alertOf[side], INSTRUMENT[side], ORG[side], NOW, NOW);
      deliveryOf[side] = Number(ins.lastInsertRowid);
      const agent = await asAdmin({
        method: 'POST',
        url: '/v1/agents',
        payload: { instruments: [INSTRUMENT[side]], username: `agent-${side}` },
      });
      expect(agent.statusCode).toBe(201);
      expect(agent.json().org).toBe(ORG[side]);
    }
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Every /v1 route of the OpenAPI document, as `METHOD /v1/path`. */
  async function documentedRoutes(): Promise<string[]> {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    return Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
  }

  it('has parameters for every route of the OpenAPI document, and no more', async () => {
    const routes = await documentedRoutes();
    const missing = routes.filter((r) => !(r in ROUTES));
    expect(
      missing,
      'routes this test has no parameters for: add them to ROUTES with their org scope',
    ).toEqual([]);
    expect(Object.keys(ROUTES).sort()).toEqual(routes);
  });

  it('answers 401 on every /v1 route without a key', async () => {
    for (const [name, c] of Object.entries(ROUTES)) {
      const res = await app.inject(c.request('A'));
      expect(res.statusCode, name).toBe(401);
      expect(res.json().error.code, name).toBe('unauthorized');
    }
  });

  for (const role of ROLES) {
    it(`a ${role} key of one org is served its org and refused the other on every route`, async () => {
      for (const [name, c] of Object.entries(ROUTES)) {
        for (const [mine, other] of [
          ['A', 'B'],
          ['B', 'A'],
        ] as const) {
          const headers = { authorization: `Bearer ${keyOf(role, mine)}` };
          const send = async (opts: InjectOptions) =>
            app.inject({ ...opts, headers: { ...opts.headers, ...headers } });
          if (!ROLE_PERMISSIONS[role].includes(c.permission)) {
            const res = await send(c.request(mine));
            expect(res.statusCode, `${role} ${name}`).toBe(403);
            continue;
          }
          const otherMarks = mine === 'A' ? B_MARKS : ['ORGA-', ORG.A];
          // its own org
          await c.prepare?.(mine);
          const own = await send(c.request(mine, false));
          expect(c.ok ?? [200, 201, 204], `${role}/${mine} ${name}: ${own.body}`).toContain(own.statusCode);
          for (const mark of otherMarks)
            expect(own.body, `${role}/${mine} ${name} leaks ${mark}`).not.toContain(mark);
          // the other org
          await c.prepare?.(other);
          const theirs = await send(c.request(other));
          switch (c.kind) {
            case 'instrument':
              expect(theirs.statusCode, `${role}/${mine} ${name} of ${other}`).toBe(404);
              expect(theirs.json().error.code).toBe('instrument_not_found');
              break;
            case 'owned':
              expect(theirs.statusCode, `${role}/${mine} ${name} of ${other}: ${theirs.body}`).toBe(404);
              break;
            case 'filtered':
              expect(theirs.statusCode, `${role}/${mine} ${name} org=${other}`).toBe(403);
              expect(theirs.json().error.code).toBe('forbidden');
              break;
            case 'rows': {
              expect(theirs.statusCode, name).toBe(200);
              const body = theirs.json();
              expect(body.rejected, `${role}/${mine} ${name} of ${other}: ${theirs.body}`).toBe(1);
              expect(body.created + body.updated).toBe(0);
              break;
            }
            case 'none':
              expect(theirs.statusCode).toBe(200);
              break;
          }
          // an error may echo the id the caller sent, and nothing else of the other org
          const answer = theirs.body.replaceAll(INSTRUMENT[other], '<sent id>');
          for (const mark of otherMarks) {
            if (c.kind !== 'rows' && c.kind !== 'none')
              expect(answer, `${role}/${mine} ${name} leaks ${mark}`).not.toContain(mark);
          }
        }
      }
    });
  }

  it('an unknown instrument and another org’s answer alike (existence does not leak)', async () => {
    const headers = { authorization: `Bearer ${keyOf('manager', 'A')}` };
    const unknown = await app.inject({ method: 'GET', url: '/v1/instruments/NOPE-1', headers });
    const other = await app.inject({ method: 'GET', url: '/v1/instruments/ORGB-1', headers });
    expect(unknown.statusCode).toBe(404);
    expect(other.statusCode).toBe(404);
    expect(other.json().error.message).toBe(unknown.json().error.message.replaceAll('NOPE-1', 'ORGB-1'));
  });

  it('a scoped key may not put an instrument into another org; org left out is its own', async () => {
    const headers = { authorization: `Bearer ${keyOf('platform', 'A')}` };
    const moved = await app.inject({
      method: 'PUT',
      url: '/v1/instruments/ORGA-2',
      headers,
      payload: { name: 'XRD A', org: ORG.B },
    });
    expect(moved.statusCode).toBe(403);
    expect(moved.json().error.message).toMatch(/^body\.org: /);
    const created = await app.inject({
      method: 'PUT',
      url: '/v1/instruments/ORGA-9',
      headers,
      payload: { name: 'new' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().org).toBe(ORG.A);
    const taken = await app.inject({
      method: 'PUT',
      url: '/v1/instruments/ORGB-1',
      headers,
      payload: { name: 'mine now' },
    });
    expect(taken.statusCode).toBe(404);
    const still = await asAdmin(get('/v1/instruments/ORGB-1'));
    expect(still.json().name).not.toBe('mine now');
    expect(still.json().org).toBe(ORG.B);
  });

  it('an unscoped key sees every org', async () => {
    const res = await asAdmin(get('/v1/instruments'));
    expect(res.json().items.map((i: { id: string }) => i.id)).toEqual([
      'ORGA-1',
      'ORGA-2',
      'ORGA-9',
      'ORGB-1',
    ]);
  });

  it('a route that declares no org scope stops the collector from starting', async () => {
    const { default: Fastify } = await import('fastify');
    const { guard } = await import('../src/api/scope.ts');
    const { createKeyring } = await import('../src/api/auth.ts');
    const f = Fastify();
    const start = async () => {
      await f.register(async (scoped) => {
        guard(scoped, createKeyring([]), app.dayi.ctx.db);
        scoped.get('/x', { config: { permission: 'read' } }, async () => 'x');
      });
      await f.ready();
    };
    await expect(start()).rejects.toThrow(/declares no org scope/);
    // a list that says it is filtered must take org (so the guard can pin it)
    const g = Fastify();
    const { z } = await import('zod');
    const { zodValidatorCompiler } = await import('../src/api/zod.ts');
    g.setValidatorCompiler(zodValidatorCompiler);
    const startList = async () => {
      await g.register(async (scoped) => {
        guard(scoped, createKeyring([]), app.dayi.ctx.db);
        scoped.get(
          '/list',
          {
            config: { permission: 'read', orgScope: 'filtered' },
            schema: { querystring: z.object({ limit: z.string() }) },
          },
          async () => 'x',
        );
      });
      await g.ready();
    };
    await expect(startList()).rejects.toThrow(/querystring has no org parameter/);
    await g.close();
    await f.close();
  });
});
