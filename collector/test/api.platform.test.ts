import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idleTrend, spellsOf, weeksEndingBetween } from '../src/figures/idle-trend.ts';
import { periodOf, periodTotals } from '../src/query/period.ts';
import { auth, buildApi, submit } from './helpers/e2e-api.ts';

const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const MIN = 60_000;
const t = (iso: string) => Date.parse(iso);

/** Telemetry with a state every minute over [from, to), the state chosen per instant. */
async function feed(
  app: FastifyInstance,
  id: string,
  from: string,
  to: string,
  stateAt: (ts: number) => 'off' | 'standby' | 'idle' | 'running',
  seq: { n: number },
  stepMs = MIN,
) {
  for (let ts = t(from); ts < t(to); ts += stepMs) {
    const outcome = await submit(app, id, 'telemetry', { ts, seq: seq.n++, metrics: {}, state: stateAt(ts) });
    expect(outcome.outcome).toBe('accepted');
  }
}

describe('bookings, reconciliation, utilisation, purchase review, idle trend', () => {
  let app: FastifyInstance;
  const seqs = { A: { n: 1 }, B: { n: 1 }, C: { n: 1 }, OLD: { n: 1 } };
  beforeAll(async () => {
    app = await buildApi(
      {
        instruments: [
          { id: 'NMR-A', name: 'NMR A', org: 'Zhejiang University', category: 'NMR', quotaHours: 1400 },
          { id: 'NMR-B', name: 'NMR B', org: 'Zhejiang University', category: 'NMR', quotaHours: 800 },
          { id: 'MS-C', name: 'MS C', org: 'Westlake', category: 'MS' },
          { id: 'OLD-1', name: 'Old one', org: 'Westlake', category: 'MS' },
          { id: 'NEVER-1', name: 'Never', org: 'Westlake', category: 'NMR' },
        ],
      },
      () => NOW,
    );
    // The golden day on NMR-A: running 09:00–12:00, off around it.
    await feed(
      app,
      'NMR-A',
      '2026-11-10T08:00:00+08:00',
      '2026-11-10T18:00:00+08:00',
      (ts) =>
        ts >= t('2026-11-10T09:00:00+08:00') && ts < t('2026-11-10T12:00:00+08:00') ? 'running' : 'off',
      seqs.A,
    );
    // NMR-B: an evening run across midnight, and today (live days) running since 08:00.
    await feed(
      app,
      'NMR-B',
      '2026-11-27T20:00:00+08:00',
      '2026-11-28T02:30:00+08:00',
      () => 'running',
      seqs.B,
      2 * MIN,
    );
    await feed(
      app,
      'NMR-B',
      '2026-11-29T07:00:00+08:00',
      '2026-11-29T11:58:00+08:00',
      (ts) => (ts >= t('2026-11-29T08:00:00+08:00') ? 'running' : 'standby'),
      seqs.B,
      3 * MIN,
    );
    // MS-C: idle (powered, not running) mornings on a few days, and a gap with unknown time.
    for (const day of ['2026-11-02', '2026-11-03', '2026-11-20']) {
      await feed(
        app,
        'MS-C',
        `${day}T09:00:00+08:00`,
        `${day}T10:00:00+08:00`,
        () => 'idle',
        seqs.C,
        5 * MIN,
      );
    }
    // OLD-1: powered once, long ago (idle for months).
    await feed(
      app,
      'OLD-1',
      '2026-06-01T09:00:00+08:00',
      '2026-06-01T10:00:00+08:00',
      () => 'running',
      seqs.OLD,
      10 * MIN,
    );
  });
  afterAll(async () => {
    await app.close();
  });
  const get = (url: string, role: 'manager' | 'platform' = 'manager') =>
    app.inject({ method: 'GET', url, headers: auth(role) });
  const put = (url: string, payload: unknown, role: 'platform' | 'manager' | 'admin' = 'platform') =>
    app.inject({
      method: 'PUT',
      url,
      headers: { ...auth(role), 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  it('PUT /v1/bookings: valid rows land, invalid ones are named by index and field', async () => {
    const res = await put('/v1/bookings', [
      {
        id: 'bk-1',
        instrumentId: 'NMR-A',
        start: '2026-11-10T09:00:00+08:00',
        end: '2026-11-10T11:00:00+08:00',
        user: 'li',
        org: 'Westlake',
        external: true,
      },
      {
        id: 'bk-2',
        instrumentId: 'NMR-A',
        start: '2026-11-10T14:00:00+08:00',
        end: '2026-11-10T16:00:00+08:00',
        user: 'wang',
        org: 'Zhejiang University',
      },
      { id: 'bad-1', instrumentId: 'NMR-A', start: '2026-11-10 09:00', end: '2026-11-10T11:00:00+08:00' },
      {
        id: 'bad-2',
        instrumentId: 'NMR-A',
        start: '2026-11-10T11:00:00+08:00',
        end: '2026-11-10T10:00:00+08:00',
      },
      {
        id: 'bad-3',
        instrumentId: 'NOPE-1',
        start: '2026-11-10T09:00:00+08:00',
        end: '2026-11-10T10:00:00+08:00',
      },
      {
        id: 'bk-1',
        instrumentId: 'NMR-A',
        start: '2026-11-10T09:00:00+08:00',
        end: '2026-11-10T10:00:00+08:00',
      },
      {
        id: 'bad-5',
        instrumentId: 'NMR-A',
        start: '2026-11-10T09:00:00+08:00',
        end: '2026-11-10T10:00:00+08:00',
        colour: 'red',
      },
      'not an object',
    ]);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ upserted: 2, created: 2, updated: 0, rejected: 6 });
    expect(body.errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([
      [2, 'start'],
      [3, 'end'],
      [4, 'instrumentId'],
      [5, 'id'],
      [6, 'colour'],
      [7, '(row)'],
    ]);
    expect(body.errors[0].message).toMatch(/ISO 8601/);
    expect(body.errors[3].message).toMatch(/duplicate of row 0/);
    // Upsert: the same id again replaces it.
    const again = await put('/v1/bookings', [
      {
        id: 'bk-2',
        instrumentId: 'NMR-A',
        start: '2026-11-10T14:00:00+08:00',
        end: '2026-11-10T16:00:00+08:00',
        user: 'wang',
      },
    ]);
    expect(again.json()).toMatchObject({ upserted: 1, created: 0, updated: 1, errors: [] });
    const list = await get('/v1/bookings?instrumentId=NMR-A&from=2026-11-10&to=2026-11-10');
    expect(
      list
        .json()
        .items.map((b: { id: string; start: string; external: boolean }) => [b.id, b.start, b.external]),
    ).toEqual([
      ['bk-1', '2026-11-10T09:00:00.000+08:00', true],
      ['bk-2', '2026-11-10T14:00:00.000+08:00', false],
    ]);
  });

  it('bookings:write only for platform and admin; not a JSON array is a 400', async () => {
    expect((await put('/v1/bookings', [], 'manager')).statusCode).toBe(403);
    expect((await put('/v1/bookings', [], 'admin')).statusCode).toBe(200);
    const notArray = await put('/v1/bookings', { id: 'x' });
    expect(notArray.statusCode).toBe(400);
    expect(notArray.json().error.code).toBe('invalid_body');
  });

  it('the golden day: booked 4 h, running inside 2 h, unbooked 1 h, noShows 1, external 2 h', async () => {
    const res = await get('/v1/instruments/NMR-A/reconciliation?from=2026-11-10&to=2026-11-10');
    expect(res.statusCode).toBe(200);
    const r = res.json();
    expect(r).toMatchObject({
      id: 'NMR-A',
      name: 'NMR A',
      bookedHours: 4,
      runningHours: 3,
      bookedRunningHours: 2,
      unbookedRunningHours: 1,
      noShows: 1,
      externalServiceHours: 2,
      bookings: 2,
      bookedCoverage: 1,
    });
    expect(
      r.items.map((i: { id: string; noShow: boolean; runningHours: number }) => [
        i.id,
        i.noShow,
        i.runningHours,
      ]),
    ).toEqual([
      ['bk-1', false, 2],
      ['bk-2', true, 0],
    ]);
    const usage = (await get('/v1/instruments/NMR-A/usage?from=2026-11-10&to=2026-11-10')).json();
    expect(r.runningHours).toBe(usage.runningHours);
    // Per org: the same figures summed; the other org has nothing booked.
    const org = (
      await get('/v1/reconciliation?from=2026-11-01&to=2026-11-29&org=Zhejiang%20University')
    ).json();
    expect(org.groups).toHaveLength(1);
    expect(org.groups[0]).toMatchObject({
      org: 'Zhejiang University',
      instruments: 2,
      bookedHours: 4,
      bookedRunningHours: 2,
      noShows: 1,
      externalServiceHours: 2,
    });
    const all = (await get('/v1/reconciliation?from=2026-11-10&to=2026-11-10')).json();
    expect(all.groups.map((g: { org: string | null }) => g.org)).toEqual(['Westlake', 'Zhejiang University']);
  });

  it('DELETE /v1/bookings/{id} removes a cancelled booking; a second time is 404', async () => {
    await put('/v1/bookings', [
      {
        id: 'tmp',
        instrumentId: 'MS-C',
        start: '2026-11-20T09:00:00+08:00',
        end: '2026-11-20T10:00:00+08:00',
      },
    ]);
    const del = () => app.inject({ method: 'DELETE', url: '/v1/bookings/tmp', headers: auth('platform') });
    expect((await del()).statusCode).toBe(204);
    const again = await del();
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('booking_not_found');
  });

  const periods: [string, string][] = [
    ['2026-11-01', '2026-11-29'],
    ['2026-11-10', '2026-11-10'],
    ['2026-11-27', '2026-11-28'],
    ['2026-11-28', '2026-12-05'],
    ['2026-05-15', '2026-11-29'],
    ['2025-12-01', '2026-11-30'],
  ];
  for (const [from, to] of periods) {
    it(`utilisation per instrument equals /usage exactly (${from}..${to})`, async () => {
      const u = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=instrument`)).json();
      expect(u.items.map((i: { group: string }) => i.group)).toEqual([
        'MS-C',
        'NEVER-1',
        'NMR-A',
        'NMR-B',
        'OLD-1',
      ]);
      for (const item of u.items) {
        const usage = (await get(`/v1/instruments/${item.group}/usage?from=${from}&to=${to}`)).json();
        expect([item.group, item.poweredHours, item.runningHours, item.coverage]).toEqual([
          item.group,
          usage.poweredHours,
          usage.runningHours,
          usage.coverage,
        ]);
      }
    });
  }

  for (const [from, to] of periods) {
    it(`per org and category: the sums of the instruments (${from}..${to})`, async () => {
      const per = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=instrument`)).json();
      for (const groupBy of ['org', 'category'] as const) {
        const grouped = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=${groupBy}`)).json();
        for (const g of grouped.items) {
          const members = per.items.filter(
            (i: { instrument: Record<string, string | null> }) => i.instrument[groupBy] === g.group,
          );
          expect(g.instruments).toBe(members.length);
          for (const f of ['poweredHours', 'runningHours', 'quotaHours'] as const) {
            const sum = members.reduce((s: number, i: Record<string, number>) => s + i[f]!, 0);
            expect(Math.abs(g[f] - sum), `${groupBy} ${g.group} ${f}`).toBeLessThanOrEqual(
              0.01 * members.length,
            );
          }
          for (const f of ['idle', 'neverReported'] as const) {
            expect(g[f]).toBe(members.reduce((s: number, i: Record<string, number>) => s + i[f]!, 0));
          }
        }
        expect(grouped.total.runningHours).toBeCloseTo(per.total.runningHours, 2);
        expect(grouped.total.coverage).toBe(per.total.coverage);
      }
    });
  }

  for (const [from, to] of periods) {
    it(`the whole-fleet path (monthly rollups in SQL) equals /usage exactly (${from}..${to})`, async () => {
      const ctx = app.dayi.ctx;
      // No ids: the pass over the fleet, not the per-instrument look-ups of a few.
      const totals = periodTotals(ctx, periodOf(ctx, from, to));
      expect([...totals.keys()].sort()).toEqual(['MS-C', 'NEVER-1', 'NMR-A', 'NMR-B', 'OLD-1']);
      for (const [id, t] of totals) {
        const usage = (await get(`/v1/instruments/${id}/usage?from=${from}&to=${to}`)).json();
        expect([id, Math.round(t.poweredMs / 36_000) / 100, Math.round(t.runningMs / 36_000) / 100]).toEqual([
          id,
          usage.poweredHours,
          usage.runningHours,
        ]);
      }
    });
  }

  it('per org filtered by category (the per-instrument sums) and per category filtered by org', async () => {
    for (const [from, to] of periods) {
      const per = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=instrument`)).json();
      const crossed = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=org&category=NMR`)).json();
      for (const g of crossed.items) {
        const members = per.items.filter(
          (i: { instrument: Record<string, string | null> }) =>
            i.instrument.org === g.group && i.instrument.category === 'NMR',
        );
        expect(g.instruments).toBe(members.length);
        const sum = members.reduce((s: number, i: { runningHours: number }) => s + i.runningHours, 0);
        expect(Math.abs(g.runningHours - sum)).toBeLessThanOrEqual(0.01 * members.length);
      }
      const one = (await get(`/v1/utilization?from=${from}&to=${to}&groupBy=category&org=Westlake`)).json();
      expect(one.total.instruments).toBe(3);
    }
  });

  it('the idle trend from the kept gaps equals the definition over every powered day', async () => {
    const ctx = app.dayi.ctx;
    const powered = ctx.db
      .prepare('SELECT instrument_id AS id, date FROM daily_usage WHERE powered_ms > 0 ORDER BY 1, 2')
      .all() as { id: string; date: string }[];
    const members = ctx.db
      .prepare(
        'SELECT i.id, i.org, s.first_seen FROM instruments i LEFT JOIN instrument_status s ON s.instrument_id = i.id',
      )
      .all() as { id: string; org: string; first_seen: number | null }[];
    for (const days of [7, 8, 9, 30, 90]) {
      const res = (
        await get(`/v1/kpi/idle-trend?from=2026-06-01&to=2026-11-29&groupBy=org&days=${days}`)
      ).json();
      const weeks = weeksEndingBetween('2026-06-01', '2026-11-28', days);
      const expected = idleTrend(
        members.map((m) => ({
          group: m.org,
          firstSeenDate:
            m.first_seen === null ? null : new Date(m.first_seen + 8 * 3_600_000).toISOString().slice(0, 10),
          spells: spellsOf(powered.filter((p) => p.id === m.id).map((p) => p.date)),
        })),
        weeks,
      );
      expect(
        res.weeks.map((w: { end: string; idle: number; groups: unknown }) => [w.end, w.idle, w.groups]),
        `days=${days}`,
      ).toEqual(expected.map((w) => [w.end, w.idle, w.groups]));
    }
  });

  it('groups by org and category: instruments, quota prorated, utilisation, idle and never reported', async () => {
    // A whole calendar year: quota is exactly the yearly figure.
    const year = (await get('/v1/utilization?from=2026-01-01&to=2026-12-31&groupBy=org')).json();
    expect(year.items.map((i: { group: string }) => i.group)).toEqual(['Westlake', 'Zhejiang University']);
    const zju = year.items[1];
    expect(zju.instruments).toBe(2);
    // Elapsed part of 2026 up to NOW: 332.5 days of 365.
    const elapsedShare = (NOW - Date.parse('2026-01-01T00:00:00+08:00')) / (365 * 86_400_000);
    expect(zju.quotaHours).toBeCloseTo((1400 + 800) * elapsedShare, 1);
    expect(zju.utilisation).toBeCloseTo(zju.runningHours / zju.quotaHours, 3);
    const west = year.items[0];
    expect(west).toMatchObject({ instruments: 3, neverReported: 1, idle: 1 });
    const byCat = (await get('/v1/utilization?from=2026-11-01&to=2026-11-29&groupBy=category')).json();
    expect(byCat.items.map((i: { group: string; instruments: number }) => [i.group, i.instruments])).toEqual([
      ['MS', 2],
      ['NMR', 3],
    ]);
    expect(byCat.total.instruments).toBe(5);
    const onlyOrg = (
      await get('/v1/utilization?from=2026-11-01&to=2026-11-29&groupBy=instrument&org=Westlake')
    ).json();
    expect(onlyOrg.items.map((i: { group: string }) => i.group)).toEqual(['MS-C', 'NEVER-1', 'OLD-1']);
  });

  it('purchase review: every instrument of the category, annualised against 1,200 h', async () => {
    const res = await get('/v1/purchase-review?category=NMR&from=2026-11-01&to=2026-11-28');
    expect(res.statusCode).toBe(200);
    const r = res.json();
    expect(r.barHours).toBe(1200);
    expect(r.items.map((i: { id: string }) => i.id).sort()).toEqual(['NEVER-1', 'NMR-A', 'NMR-B']);
    const a = r.items.find((i: { id: string }) => i.id === 'NMR-A');
    // NMR-A first reported on 2026-11-10 08:00: 3 h over 18 days 16 h of observation.
    const observedMs = Date.parse('2026-11-29T00:00:00+08:00') - Date.parse('2026-11-10T08:00:00+08:00');
    expect(a.annualisedHours).toBeCloseTo((3 * 3_600_000 * 365 * 24) / observedMs, 1);
    expect(a.full).toBe(false);
    expect(r.items.find((i: { id: string }) => i.id === 'NEVER-1').annualisedHours).toBeNull();
    expect(r.summary).toMatchObject({ instruments: 3, measured: 2, allFull: false });
    // Default period: the 365 days ending yesterday.
    const dflt = (await get('/v1/purchase-review?category=NMR')).json();
    expect([dflt.from, dflt.to]).toEqual(['2025-11-29', '2026-11-28']);
  });

  it('idle trend: weekly counts by event time, a past week as it was then', async () => {
    const res = await get('/v1/kpi/idle-trend?from=2026-08-01&to=2026-11-29&groupBy=org&days=90');
    expect(res.statusCode).toBe(200);
    const r = res.json();
    // Only weeks whose Sunday is final: 2026-11-29 is today, not yet.
    expect(r.weeks[r.weeks.length - 1].end).toBe('2026-11-22');
    const week = (end: string) => r.weeks.find((w: { end: string }) => w.end === end);
    // OLD-1 was powered on 2026-06-01: idle from the week whose 90-day window starts after it.
    expect(week('2026-08-23').idle).toBe(0);
    expect(week('2026-08-30').idle).toBe(1);
    expect(week('2026-08-30').groups).toEqual([
      { group: 'Westlake', idle: 1, reporting: 1 },
      { group: 'Zhejiang University', idle: 0, reporting: 0 },
    ]);
    // NMR-A first reported on 2026-11-10: counted as reporting from then, never idle.
    expect(week('2026-11-15').reporting).toBe(3);
    expect(week('2026-11-22').idle).toBe(1);
  });

  it('moving an instrument to another org moves its hours in the per-org figures', async () => {
    const before = (await get('/v1/utilization?from=2026-11-01&to=2026-11-28&groupBy=org')).json();
    const hoursOf = (a: { items: { group: string | null; poweredHours: number }[] }, g: string | null) =>
      a.items.find((i) => i.group === g)?.poweredHours ?? 0;
    const msc = (await get('/v1/utilization?from=2026-11-01&to=2026-11-28&groupBy=instrument'))
      .json()
      .items.find((i: { group: string }) => i.group === 'MS-C');
    const move = (org: string) =>
      app.inject({
        method: 'PUT',
        url: '/v1/instruments/MS-C',
        headers: { ...auth('platform'), 'content-type': 'application/json' },
        payload: JSON.stringify({ name: 'MS C', org, category: 'MS' }),
      });
    expect((await move('Hangzhou Lab')).statusCode).toBeLessThan(300);
    const after = (await get('/v1/utilization?from=2026-11-01&to=2026-11-28&groupBy=org')).json();
    expect(msc.poweredHours).toBeGreaterThan(0);
    expect(hoursOf(after, 'Hangzhou Lab')).toBe(msc.poweredHours);
    expect(hoursOf(after, 'Westlake')).toBeCloseTo(hoursOf(before, 'Westlake') - msc.poweredHours, 2);
    expect(after.total.poweredHours).toBe(before.total.poweredHours);
    expect((await move('Westlake')).statusCode).toBeLessThan(300);
    expect((await get('/v1/utilization?from=2026-11-01&to=2026-11-28&groupBy=org')).json()).toEqual(before);
  });

  it('routes are in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of [
      '/v1/bookings',
      '/v1/bookings/{bookingId}',
      '/v1/instruments/{id}/reconciliation',
      '/v1/reconciliation',
      '/v1/utilization',
      '/v1/purchase-review',
      '/v1/kpi/idle-trend',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(
      doc.paths['/v1/bookings'].put.requestBody.content['application/json'].schema.items.properties.external,
    ).toBeDefined();
  });
});
