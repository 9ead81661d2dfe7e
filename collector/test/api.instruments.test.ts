import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentDetail, instrumentList } from '../src/api/schemas.ts';
import { auth, buildApi, submit } from './helpers/e2e-api.ts';

const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const MIN = 60_000;

describe('GET/PUT /v1/instruments', () => {
  let app: FastifyInstance;
  const ids = ['A-1', 'B-2', 'C-3', 'D-4', 'E-5'];
  beforeAll(async () => {
    app = await buildApi({ instruments: ids.map((id) => ({ id, org: 'Org', category: 'NMR' })) }, () => NOW);
  });
  afterAll(async () => {
    await app.close();
  });
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auth('auditor') });
  const put = (id: string, payload: unknown) =>
    app.inject({
      method: 'PUT',
      url: `/v1/instruments/${id}`,
      headers: auth('platform'),
      payload: payload as object,
    });

  it('pages through every instrument once, in id order, with next cursors', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(
        `/v1/instruments?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      const page = instrumentList.parse(res.json());
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('answers one instrument with its state, times with offset, thresholds and agent', async () => {
    const ts = NOW - 2 * MIN;
    await submit(app, 'A-1', 'telemetry', { ts, seq: 1, metrics: { power_w: 500 }, state: 'running' });
    await submit(app, 'A-1', 'status', { ts, online: true, agent: { id: 'lab3-pc7', version: '1.0.0' } });
    const res = await get('/v1/instruments/A-1');
    expect(res.statusCode).toBe(200);
    const body = instrumentDetail.parse(res.json());
    expect(body).toMatchObject({
      id: 'A-1',
      org: 'Org',
      category: 'NMR',
      state: 'running',
      stateSince: '2026-11-29T11:58:00.000+08:00',
      lastSeen: '2026-11-29T11:58:00.000+08:00',
      lastPoweredAt: '2026-11-29T11:58:00.000+08:00',
      lastRunningAt: '2026-11-29T11:58:00.000+08:00',
      quotaHours: 1400,
      idleDays: 90,
      thresholds: null,
      agent: { id: 'lab3-pc7', version: '1.0.0' },
    });
    const list = instrumentList.parse((await get('/v1/instruments')).json());
    expect(list.items.find((i) => i.id === 'A-1')).toEqual({
      id: body.id,
      name: body.name,
      org: body.org,
      category: body.category,
      state: body.state,
      stateSince: body.stateSince,
      online: body.online,
      lastSeen: body.lastSeen,
      lastPoweredAt: body.lastPoweredAt,
      lastRunningAt: body.lastRunningAt,
    });
  });

  it('an instrument silent for 100 days is not online, though its old messages arrive now', async () => {
    const ts = NOW - 100 * 86_400_000;
    const ingest = (kind: string, payload: object) =>
      app.dayi.ingest.submit({
        topic: `dayi/v1/C-3/${kind}`,
        payload: Buffer.from(JSON.stringify(payload)),
        clientId: 'test',
        username: null,
        allowedInstruments: 'all',
        receivedAt: NOW - 1000,
      });
    await ingest('status', { ts, online: true, agent: { id: 'lab3-pc7', version: '1.0.0' } });
    await ingest('telemetry', { ts, seq: 1, metrics: { power_w: 500 }, state: 'running' });
    const res = await get('/v1/instruments/C-3');
    expect(res.json()).toMatchObject({
      online: false,
      state: 'unknown',
      lastSeen: '2026-08-21T12:00:00.000+08:00',
    });
    expect(
      instrumentList.parse((await get('/v1/instruments')).json()).items.find((i) => i.id === 'C-3'),
    ).toMatchObject({ online: false });
  });

  it('an agent whose every input is disconnected does not make its instrument online', async () => {
    const ingest = (kind: string, payload: object) =>
      app.dayi.ingest.submit({
        topic: `dayi/v1/D-4/${kind}`,
        payload: Buffer.from(JSON.stringify(payload)),
        clientId: 'test',
        username: null,
        allowedInstruments: 'all',
        receivedAt: NOW - 1000,
      });
    const inputs = [
      { name: 'meter', type: 'modbus', connected: false, lastError: 'timeout', lastErrorAt: NOW - 2000 },
    ];
    await ingest('status', {
      ts: NOW - 1000,
      online: true,
      agent: { id: 'lab3-pc7', version: '1.0.0' },
      inputs,
    });
    expect((await get('/v1/instruments/D-4')).json()).toMatchObject({ online: false });
    await ingest('status', {
      ts: NOW - 500,
      online: true,
      agent: { id: 'lab3-pc7', version: '1.0.0' },
      inputs: [{ ...inputs[0], connected: true }],
    });
    expect((await get('/v1/instruments/D-4')).json()).toMatchObject({ online: true });
  });

  it('PUT creates (201), then replaces (200) exactly with the body; the path id wins', async () => {
    const created = await put('F-6', { name: 'XRD', org: 'Org', quotaHours: 800, idleDays: 30 });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      id: 'F-6',
      name: 'XRD',
      quotaHours: 800,
      idleDays: 30,
      state: 'unknown',
    });
    const replaced = await put('F-6', { id: 'F-6', name: 'XRD 2' });
    expect(replaced.statusCode).toBe(200);
    // PUT replaces: omitted fields take their defaults, not the previous values.
    expect(replaced.json()).toMatchObject({
      id: 'F-6',
      name: 'XRD 2',
      org: null,
      quotaHours: 1400,
      idleDays: 90,
    });
    expect((await get('/v1/instruments/F-6')).json()).toEqual(replaced.json());
  });

  it('new thresholds reclassify telemetry that carried no state', async () => {
    const day = '2026-11-20';
    const start = Date.parse(`${day}T09:00:00+08:00`);
    // A CT clamp: metrics only, 300 W every minute for an hour, then 0 W.
    for (let i = 0; i <= 60; i++) {
      await submit(app, 'B-2', 'telemetry', {
        ts: start + i * MIN,
        seq: i,
        metrics: { power_w: i < 60 ? 300 : 0 },
      });
    }
    const usage = async () =>
      (await get(`/v1/instruments/B-2/usage?from=${day}&to=${day}`)).json() as {
        poweredHours: number;
        runningHours: number;
      };
    // No thresholds yet: metrics alone say nothing about the state.
    expect(await usage()).toMatchObject({ poweredHours: 0, runningHours: 0 });
    const res = await put('B-2', {
      org: 'Org',
      thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 400 },
    });
    expect(res.statusCode).toBe(200);
    expect(await usage()).toMatchObject({ poweredHours: 1, runningHours: 0 });
    await put('B-2', { org: 'Org', thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 250 } });
    expect(await usage()).toMatchObject({ poweredHours: 1, runningHours: 1 });
    // and what arrives after the change is classified with the new thresholds, not cached ones
    await submit(app, 'B-2', 'telemetry', { ts: start + 61 * MIN, seq: 61, metrics: { power_w: 300 } });
    await submit(app, 'B-2', 'telemetry', { ts: start + 64 * MIN, seq: 62, metrics: { power_w: 0 } });
    expect(await usage()).toMatchObject({ poweredHours: 1.05, runningHours: 1.05 });
  });
});
