/**
 * The alert API through `inject()`: reports, the list with its filters and pages, acknowledge and
 * resolve with who/when/note, roles, errors naming the field, the `anomaly` registry settings, and
 * the notification sink called inside the transaction of each change.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertChange } from '../src/alerts/types.ts';
import { alertDetail, alertList } from '../src/api/alerts.ts';
import { build } from '../src/app.ts';
import { apiConfig, auth, submit } from './helpers/e2e-api.ts';

const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const INSTRUMENTS = ['A-1', 'B-2', 'C-3'];

describe('/v1/alerts', () => {
  let app: FastifyInstance;
  let now = NOW;
  const changes: AlertChange[] = [];
  let failSink = false;
  beforeAll(async () => {
    app = await build(
      apiConfig({
        instruments: INSTRUMENTS.map((id, i) => ({
          id,
          org: i === 2 ? 'Westlake University' : 'Zhejiang University',
        })),
        // nothing to wait for: messages come one at a time, in order
        alerts: { reorderWait: 0 },
      }),
      {
        logger: false,
        now: () => now,
        alerts: {
          onChange: (c) => {
            // Inside the transaction: the alert_events row of this change is already visible here.
            const row = app.dayi.ctx.db
              .prepare('SELECT transition FROM alert_events WHERE alert_id = ? ORDER BY id DESC LIMIT 1')
              .get(c.alert.id) as { transition: string };
            expect(row.transition).toBe(c.transition);
            if (failSink) throw new Error('the notification queue is down');
            changes.push(c);
          },
        },
      },
    );
  });
  afterAll(async () => {
    await app.close();
  });

  const get = (url: string, role: Parameters<typeof auth>[0] = 'auditor') =>
    app.inject({ method: 'GET', url, headers: auth(role) });
  const post = (url: string, role: Parameters<typeof auth>[0], payload?: object) =>
    app.inject({ method: 'POST', url, headers: auth(role), ...(payload ? { payload } : {}) });

  let reportedId = '';

  it('a user report opens a reported alert; a second one repeats it', async () => {
    const first = await post('/v1/instruments/A-1/reports', 'platform', { text: 'vacuum pump is loud' });
    expect(first.statusCode).toBe(201);
    const a = alertDetail.parse(first.json());
    expect(a).toMatchObject({
      instrumentId: 'A-1',
      org: 'Zhejiang University',
      kind: 'reported',
      type: 'reported',
      severity: 'warning',
      status: 'open',
      openedAt: '2026-11-29T12:00:00.000+08:00',
      count: 1,
      closedAt: null,
      opened: { by: 'platform-key', note: 'vacuum pump is loud' },
      acknowledged: null,
      resolved: null,
    });
    reportedId = a.id;
    now += 60_000;
    const second = await post('/v1/instruments/A-1/reports', 'technician', {
      text: 'now it smells',
      severity: 'critical',
    });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({
      id: reportedId,
      count: 2,
      severity: 'critical',
      lastSeenAt: '2026-11-29T12:01:00.000+08:00',
      detail: {
        text: 'now it smells',
        reports: [
          { at: '2026-11-29T12:00:00.000+08:00', by: 'platform-key', text: 'vacuum pump is loud' },
          { at: '2026-11-29T12:01:00.000+08:00', by: 'technician-key', text: 'now it smells' },
        ],
      },
    });
    expect(changes.map((c) => [c.transition, c.by, c.note])).toEqual([
      ['opened', 'platform-key', 'vacuum pump is loud'],
      ['repeated', 'technician-key', 'now it smells'],
    ]);
  });

  it('reports need alerts:report (an auditor may not), a known instrument and a text', async () => {
    expect((await post('/v1/instruments/A-1/reports', 'auditor', { text: 'x' })).statusCode).toBe(403);
    const unknown = await post('/v1/instruments/NOPE-1/reports', 'platform', { text: 'x' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('instrument_not_found');
    const empty = await post('/v1/instruments/A-1/reports', 'platform', { text: '  ' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.message).toMatch(/^body\.text: empty: say what was seen/);
    const extra = await post('/v1/instruments/A-1/reports', 'platform', { text: 'x', by: 'me' });
    expect(extra.json().error.message).toMatch(/body\.by: unknown field/);
  });

  it('a manager acknowledges, then resolves with a note; each step records who, when and the note', async () => {
    expect((await post(`/v1/alerts/${reportedId}/ack`, 'platform', { note: 'x' })).statusCode).toBe(403);
    now += 60_000;
    const ack = await post(`/v1/alerts/${reportedId}/ack`, 'manager', { note: 'technician on the way' });
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({
      status: 'acknowledged',
      acknowledged: { at: '2026-11-29T12:02:00.000+08:00', by: 'manager-key', note: 'technician on the way' },
    });
    const again = await post(`/v1/alerts/${reportedId}/ack`, 'manager');
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toEqual({
      code: 'alert_conflict',
      message: `alert ${reportedId} is acknowledged: only an open alert can be acknowledged`,
    });
    now += 3_600_000;
    const done = await post(`/v1/alerts/${reportedId}/resolve`, 'manager', { note: 'pump oil changed' });
    expect(done.statusCode).toBe(200);
    const resolved = alertDetail.parse(done.json());
    expect(resolved).toMatchObject({
      status: 'resolved',
      closedAt: '2026-11-29T13:02:00.000+08:00',
      resolved: { at: '2026-11-29T13:02:00.000+08:00', by: 'manager-key', note: 'pump oil changed' },
    });
    expect(resolved.history.map((h) => [h.transition, h.status, h.by, h.note])).toEqual([
      ['opened', 'open', 'platform-key', 'vacuum pump is loud'],
      ['repeated', 'open', 'technician-key', 'now it smells'],
      ['acknowledged', 'acknowledged', 'manager-key', 'technician on the way'],
      ['resolved', 'resolved', 'manager-key', 'pump oil changed'],
    ]);
    expect((await post(`/v1/alerts/${reportedId}/resolve`, 'manager')).statusCode).toBe(409);
  });

  it('a sink that throws rolls the change back: nothing is half-notified', async () => {
    const r = await post('/v1/instruments/B-2/reports', 'platform', { text: 'display flickers' });
    const id = r.json().id as string;
    failSink = true;
    try {
      const ack = await post(`/v1/alerts/${id}/ack`, 'manager', { note: 'looking' });
      expect(ack.statusCode).toBe(500);
    } finally {
      failSink = false;
    }
    const after = alertDetail.parse((await get(`/v1/alerts/${id}`)).json());
    expect(after.status).toBe('open');
    expect(after.history.map((h) => h.transition)).toEqual(['opened']);
  });

  it('lists newest first with filters (status, kind, type, org, instrument, period) and pages', async () => {
    now += 60_000;
    await post('/v1/instruments/C-3/reports', 'platform', { text: 'door sensor broken' });
    const all = alertList.parse((await get('/v1/alerts')).json());
    expect(all.items.map((a) => a.instrumentId)).toEqual(['C-3', 'B-2', 'A-1']);
    const open = alertList.parse((await get('/v1/alerts?status=open,acknowledged')).json());
    expect(open.items.map((a) => a.instrumentId)).toEqual(['C-3', 'B-2']);
    const westlake = alertList.parse((await get('/v1/alerts?org=Westlake%20University')).json());
    expect(westlake.items.map((a) => a.instrumentId)).toEqual(['C-3']);
    expect(
      alertList.parse((await get('/v1/alerts?instrument=A-1&kind=reported&type=reported')).json()).items,
    ).toHaveLength(1);
    expect(alertList.parse((await get('/v1/alerts?kind=offline')).json()).items).toHaveLength(0);
    // A-1's alert lived 12:00–13:02 on the 29th: in that day, not in the day after.
    expect(
      alertList.parse((await get('/v1/alerts?instrument=A-1&from=2026-11-29&to=2026-11-29')).json()).items,
    ).toHaveLength(1);
    expect(
      alertList.parse((await get('/v1/alerts?instrument=A-1&from=2026-11-30')).json()).items,
    ).toHaveLength(0);
    expect(
      alertList.parse((await get('/v1/alerts?instrument=A-1&from=2026-11-29T13:03:00%2B08:00')).json()).items,
    ).toHaveLength(0);
    const p1 = alertList.parse((await get('/v1/alerts?limit=2')).json());
    expect(p1.items.map((a) => a.instrumentId)).toEqual(['C-3', 'B-2']);
    const p2 = alertList.parse((await get(`/v1/alerts?limit=2&cursor=${p1.next}`)).json());
    expect(p2.items.map((a) => a.instrumentId)).toEqual(['A-1']);
    expect(p2.next).toBeNull();
  });

  it('bad parameters get 400 naming the field; unknown alerts 404', async () => {
    const cases: [string, RegExp][] = [
      ['/v1/alerts?status=closed', /^query\.status: "closed" not allowed: use open, acknowledged, resolved/],
      [
        '/v1/alerts?kind=anomalies',
        /^query\.kind: "anomalies" not allowed: use offline, anomaly, idle, reported/,
      ],
      ['/v1/alerts?from=yesterday', /^query\.from: not a date or time: give YYYY-MM-DD or an ISO 8601 time/],
      ['/v1/alerts?from=2026-11-30&to=2026-11-29', /^query\.to: 2026-11-29 is before from 2026-11-30: /],
      ['/v1/alerts?cursor=bm9wZQ', /^query\.cursor: not a `next` value/],
      ['/v1/alerts?limit=0', /^query\.limit/],
    ];
    for (const [url, message] of cases) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.code, url).toBe('invalid_query');
      expect(res.json().error.message, url).toMatch(message);
    }
    const bad = await get('/v1/alerts/123');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_params');
    const missing = await get('/v1/alerts/al-0000000000000000ffff');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('alert_not_found');
    expect((await app.inject({ method: 'GET', url: '/v1/alerts' })).statusCode).toBe(401);
  });

  it('a vendor_fault event through ingest becomes an anomaly alert (the detection pass, off the ingest path)', async () => {
    await submit(app, 'ZJ-NMR-0001', 'event', {
      ts: NOW - 60_000,
      seq: 1,
      type: 'vendor_fault',
      severity: 'critical',
      detail: { code: 'E42', text: 'turbo pump fault' },
    });
    app.dayi.alerts.runner.drain();
    const list = alertList.parse((await get('/v1/alerts?kind=anomaly&instrument=ZJ-NMR-0001')).json());
    expect(list.items).toHaveLength(1);
    expect(list.items[0]).toMatchObject({
      kind: 'anomaly',
      type: 'vendor_fault',
      severity: 'critical',
      status: 'open',
      openedAt: '2026-11-29T11:59:00.000+08:00',
      detail: { source: 'event', code: 'E42', text: 'turbo pump fault' },
      opened: { by: null, note: null },
    });
    const row = app.dayi.ctx.db
      .prepare('SELECT * FROM alert_events WHERE alert_id = ?')
      .get(list.items[0]!.id) as Record<string, unknown>;
    expect(row).toMatchObject({
      instrument_id: 'ZJ-NMR-0001',
      kind: 'anomaly',
      type: 'vendor_fault',
      severity: 'critical',
      status: 'open',
      transition: 'opened',
      at: NOW - 60_000,
      by: null,
      note: null,
    });
    expect(JSON.parse(row.detail as string)).toEqual({
      source: 'event',
      code: 'E42',
      text: 'turbo pump fault',
    });
  });
});

describe('data_gap from other evidence (reportDataGap)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await build(apiConfig(), { logger: false, now: () => NOW });
  });
  afterAll(async () => {
    await app.close();
  });

  it('a seq restart reported by another part of the collector makes the same data_gap alert, once', async () => {
    const evidence = {
      at: NOW - 3_600_000,
      source: 'seq_restart',
      detail: { topic: 'telemetry', lastSeq: 41_872, firstSeq: 0 },
    };
    app.dayi.alerts.runner.reportDataGap('ZJ-NMR-0001', evidence);
    app.dayi.alerts.runner.reportDataGap('ZJ-NMR-0001', evidence);
    const list = alertList.parse(
      (await app.inject({ method: 'GET', url: '/v1/alerts?type=data_gap', headers: auth('auditor') })).json(),
    );
    expect(list.items).toHaveLength(1);
    expect(list.items[0]).toMatchObject({
      kind: 'anomaly',
      type: 'data_gap',
      status: 'open',
      count: 1,
      openedAt: '2026-11-29T11:00:00.000+08:00',
      detail: { source: 'seq_restart', topic: 'telemetry', lastSeq: 41_872, firstSeq: 0 },
    });
  });
});

describe('anomaly settings in the registry (PUT /v1/instruments/{id})', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await build(apiConfig(), { logger: false });
  });
  afterAll(async () => {
    await app.close();
  });
  const put = (payload: object) =>
    app.inject({ method: 'PUT', url: '/v1/instruments/Q-1', headers: auth('platform'), payload });

  it('stores them and answers them with the instrument', async () => {
    const anomaly = {
      powerBand: { running: [400, 800], idle: [50, 200] },
      longRunHours: 24,
      shortCycle: { maxChangesPerHour: 6 },
      serviceHours: 'Mon-Fri 08:00-18:00',
      staleSamples: 30,
    };
    const res = await put({ org: 'Org', anomaly });
    expect(res.statusCode).toBe(201);
    expect(res.json().anomaly).toEqual(anomaly);
    const cleared = await put({ org: 'Org' });
    expect(cleared.json().anomaly).toBeNull();
  });

  it('refuses bad ones with the field named', async () => {
    const cases: [object, RegExp][] = [
      [
        { anomaly: { serviceHours: 'weekdays 8-18' } },
        /^body\.anomaly\.serviceHours: "weekdays 8-18" is not "Day\[-Day\] HH:MM-HH:MM"/,
      ],
      [
        { anomaly: { serviceHours: 'Mon-Fri 18:00-08:00' } },
        /^body\.anomaly\.serviceHours: .*the end must be after the start/,
      ],
      [
        { anomaly: { powerBand: { running: [800, 400] } } },
        /^body\.anomaly\.powerBand\.running: must be \[low, high\] with low < high/,
      ],
      [{ anomaly: { powerBand: { busy: [1, 2] } } }, /^body\.anomaly\.powerBand\.busy: unknown field/],
      [{ anomaly: { longRunHours: 0 } }, /^body\.anomaly\.longRunHours: /],
      [{ anomaly: { staleSamples: 1 } }, /^body\.anomaly\.staleSamples: /],
      [{ anomaly: { shortCycle: { max: 6 } } }, /body\.anomaly\.shortCycle\.max: unknown field/],
      [{ anomaly: { disabled: ['offline'] } }, /^body\.anomaly\.disabled\.0: /],
      [{ anomaly: { stale: 3 } }, /^body\.anomaly\.stale: unknown field/],
    ];
    for (const [body, message] of cases) {
      const res = await put(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.message, JSON.stringify(body)).toMatch(message);
    }
  });
});
