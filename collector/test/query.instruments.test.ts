import { afterEach, describe, expect, it } from 'vitest';
import {
  getIdle,
  getInstrument,
  listInstruments,
  QueryError,
  seedRegistry,
  upsertInstrument,
} from '../src/query/index.ts';
import { type DeriveDb, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

const MIN = 60_000;
const DAY = 86_400_000;
let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('listInstruments / getInstrument', () => {
  it('pages through all known instruments by id with a cursor', async () => {
    t = openDeriveDb({ timezone: 'Asia/Shanghai' }, Date.parse('2026-11-29T08:00:00+08:00'));
    for (const id of ['C-3', 'A-1', 'E-5', 'B-2']) upsertInstrument(t.ctx, { id, quotaHours: 1400 });
    // An instrument that reports before it is registered is listed too.
    await t.send('D-4', 'status', { ts: t.clock.now, online: true });
    const p1 = listInstruments(t.ctx, { limit: 2 });
    expect(p1.items.map((i) => i.id)).toEqual(['A-1', 'B-2']);
    expect(p1.next).toBe('B-2');
    const p2 = listInstruments(t.ctx, { limit: 2, cursor: p1.next! });
    expect(p2.items.map((i) => i.id)).toEqual(['C-3', 'D-4']);
    const p3 = listInstruments(t.ctx, { limit: 2, cursor: p2.next! });
    expect(p3).toMatchObject({ items: [{ id: 'E-5' }], next: null });
    expect(listInstruments(t.ctx).items).toHaveLength(5);
    for (const limit of [0, 1001, 2.5]) {
      expect(() => listInstruments(t!.ctx, { limit })).toThrow(QueryError);
      expect(() => listInstruments(t!.ctx, { limit })).toThrow(/ is not a whole number from 1 to 1000: /);
    }
  });

  it('reports the current state, since when, and whether the agent is online', async () => {
    const tz = 'Asia/Shanghai';
    t = openDeriveDb({ timezone: tz, offlineAfter: '5m' }, Date.parse('2026-11-29T10:00:30+08:00'));
    const id = 'ZJ-NMR-0001';
    upsertInstrument(t.ctx, {
      id,
      name: '600 MHz NMR',
      org: 'Zhejiang University',
      category: 'NMR',
      quotaHours: 1400,
    });
    const seq = { next: 0 };
    await t.sendAll([
      ...telemetryEvery(id, '2026-11-29T07:00:00+08:00', '2026-11-29T08:00:00+08:00', MIN, 'running', seq),
      // 30 min without evidence: the run after it is a new one.
      ...telemetryEvery(id, '2026-11-29T08:30:00+08:00', '2026-11-29T09:00:00+08:00', MIN, 'running', seq),
      ...telemetryEvery(id, '2026-11-29T09:00:00+08:00', '2026-11-29T09:20:00+08:00', MIN, 'idle', seq),
      ...telemetryEvery(id, '2026-11-29T09:20:00+08:00', '2026-11-29T10:01:00+08:00', MIN, 'running', seq),
    ]);
    await t.send(id, 'status', {
      ts: t.clock.now,
      online: true,
      agent: { id: 'lab3-pc7', version: '1.0.0' },
    });
    expect(listInstruments(t.ctx).items).toEqual([
      {
        id,
        name: '600 MHz NMR',
        org: 'Zhejiang University',
        category: 'NMR',
        state: 'running',
        stateSince: '2026-11-29T09:20:00.000+08:00',
        online: true,
        lastSeen: '2026-11-29T10:00:30.000+08:00',
        lastPoweredAt: '2026-11-29T10:00:00.000+08:00',
        lastRunningAt: '2026-11-29T10:00:00.000+08:00',
      },
    ]);

    // Ten minutes later, with nothing new: the evidence is stale and the agent offline.
    t.clock.now = Date.parse('2026-11-29T10:10:30+08:00');
    expect(getInstrument(t.ctx, id)).toMatchObject({
      state: 'unknown',
      stateSince: '2026-11-29T10:05:00.000+08:00',
      online: false,
      agent: { id: 'lab3-pc7', version: '1.0.0', inputs: [] },
    });
  });

  it('the run starts at a state change or an evidence gap; a state message may say it began earlier', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-29T10:03:00Z'));
    const id = 'RUN-1';
    const seq = { next: 0 };
    await t.sendAll(telemetryEvery(id, '2026-11-29T09:00:00Z', '2026-11-29T09:30:00Z', MIN, 'off', seq));
    await t.send(id, 'state', {
      ts: Date.parse('2026-11-29T09:40:00Z'),
      seq: 0,
      state: 'running',
      since: Date.parse('2026-11-29T09:35:00Z'),
    });
    await t.sendAll(telemetryEvery(id, '2026-11-29T09:41:00Z', '2026-11-29T10:03:00Z', MIN, 'running', seq));
    expect(getInstrument(t.ctx, id)).toMatchObject({
      state: 'running',
      stateSince: '2026-11-29T09:35:00.000+00:00',
    });
    // An evidence gap longer than offlineAfter ends a run even when the state is the same.
    await t.sendAll([
      ...telemetryEvery('GAP-1', '2026-11-29T09:00:00Z', '2026-11-29T09:30:00Z', MIN, 'running', seq),
      ...telemetryEvery('GAP-1', '2026-11-29T09:36:00Z', '2026-11-29T10:03:00Z', MIN, 'running', seq),
    ]);
    expect(getInstrument(t.ctx, 'GAP-1')).toMatchObject({
      state: 'running',
      stateSince: '2026-11-29T09:36:00.000+00:00',
    });
    // A `since` before the last evidence of another state is not believed.
    await t.send(id, 'state', {
      ts: Date.parse('2026-11-29T09:40:00Z'),
      seq: 1,
      state: 'running',
      since: Date.parse('2026-11-29T09:00:00Z'),
    });
    expect(getInstrument(t.ctx, id)).toMatchObject({
      state: 'running',
      stateSince: '2026-11-29T09:40:00.000+00:00',
    });
  });

  it('a detail carries the registry settings and the agent with its inputs; unknown ids are null', async () => {
    t = openDeriveDb({ timezone: 'UTC', idleDays: 90 }, Date.parse('2026-11-29T08:00:00Z'));
    upsertInstrument(t.ctx, {
      id: 'ZJ-MS-7',
      quotaHours: 800,
      idleDays: 30,
      thresholds: { signal: 'current_a', standby: 0.1, idle: 0.5, running: 2 },
    });
    await t.send('ZJ-MS-7', 'status', {
      ts: t.clock.now,
      online: true,
      agent: { id: 'box-1', version: '1.2.0' },
      inputs: [{ name: 'meter', type: 'modbus', connected: true }],
    });
    expect(getInstrument(t.ctx, 'ZJ-MS-7')).toEqual({
      id: 'ZJ-MS-7',
      name: null,
      org: null,
      category: null,
      state: 'unknown',
      stateSince: null,
      online: true,
      lastSeen: '2026-11-29T08:00:00.000+00:00',
      lastPoweredAt: null,
      lastRunningAt: null,
      quotaHours: 800,
      idleDays: 30,
      thresholds: { signal: 'current_a', standby: 0.1, idle: 0.5, running: 2 },
      anomaly: null,
      agent: { id: 'box-1', version: '1.2.0', inputs: [{ name: 'meter', type: 'modbus', connected: true }] },
    });
    // The will: online false, even though it just arrived.
    await t.send('ZJ-MS-7', 'status', { ts: t.clock.now - 60_000, online: false }, t.clock.now + 1);
    expect(getInstrument(t.ctx, 'ZJ-MS-7')).toMatchObject({ online: false, agent: { id: 'box-1' } });
    expect(getInstrument(t.ctx, 'NOPE')).toBeNull();
  });
});

describe('getIdle', () => {
  it('lists one last powered 120 days ago, not one 10 days ago, and the never-reported apart', async () => {
    const now = Date.parse('2026-11-29T08:00:00+08:00');
    t = openDeriveDb({ timezone: 'Asia/Shanghai', idleDays: 90 }, now);
    for (const [id, org] of [
      ['OLD-120', 'Zhejiang University'],
      ['NEW-10', 'Zhejiang University'],
      ['NEVER-1', 'Westlake University'],
    ] as const) {
      upsertInstrument(t.ctx, { id, org, name: `${id} name`, quotaHours: 1400 });
    }
    await t.send('OLD-120', 'state', {
      ts: now - 120 * DAY,
      seq: 1,
      state: 'running',
      since: now - 120 * DAY,
    });
    await t.send('OLD-120', 'state', {
      ts: now - 120 * DAY + 3_600_000,
      seq: 2,
      state: 'off',
      since: now - 120 * DAY,
    });
    await t.send('NEW-10', 'state', { ts: now - 10 * DAY, seq: 1, state: 'standby', since: now - 10 * DAY });
    const idle = getIdle(t.ctx, { days: 90 });
    expect(idle).toEqual({
      items: [
        {
          id: 'OLD-120',
          org: 'Zhejiang University',
          name: 'OLD-120 name',
          lastPoweredAt: '2026-08-01T08:00:00.000+08:00',
          idleDays: 120,
          lastSeen: '2026-08-01T09:00:00.000+08:00',
          // Nothing heard for 119 days: off, or disconnected, the collector cannot tell.
          reason: 'silent',
          window: { from: '2026-08-31', to: '2026-11-29' },
          coverage: 0,
        },
      ],
      neverReported: [
        { id: 'NEVER-1', org: 'Westlake University', name: 'NEVER-1 name', reason: 'never_seen' },
      ],
    });
    expect(getIdle(t.ctx, { days: 7 }).items.map((i) => [i.id, i.idleDays])).toEqual([
      ['OLD-120', 120],
      ['NEW-10', 10],
    ]);
    expect(() => getIdle(t!.ctx, { days: 0 })).toThrow(/^0 is not a whole number of days/);
  });

  it('without days, each instrument’s own idleDays applies, else the config’s', async () => {
    const now = Date.parse('2026-11-29T08:00:00Z');
    t = openDeriveDb({ timezone: 'UTC', idleDays: 90 }, now);
    upsertInstrument(t.ctx, { id: 'STRICT', quotaHours: 1400, idleDays: 30 });
    upsertInstrument(t.ctx, { id: 'DEFAULT', quotaHours: 1400 });
    for (const id of ['STRICT', 'DEFAULT']) {
      await t.send(id, 'state', { ts: now - 45 * DAY, seq: 1, state: 'idle', since: now - 45 * DAY });
    }
    // Reporting only `off` for a long time: counted from the first message.
    await t.send('OFF-ONLY', 'state', { ts: now - 100 * DAY, seq: 1, state: 'off', since: now - 100 * DAY });
    await t.send('OFF-ONLY', 'state', { ts: now - DAY, seq: 2, state: 'off', since: now - 100 * DAY });
    expect(getIdle(t.ctx).items.map((i) => [i.id, i.lastPoweredAt, i.idleDays])).toEqual([
      ['OFF-ONLY', null, 100],
      ['STRICT', '2026-10-15T08:00:00.000+00:00', 45],
    ]);
  });
});

describe('getIdle tells switched off from unknown', () => {
  it('says why each instrument is listed, when it was last heard of, and how much of the window is known', async () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    t = openDeriveDb({ timezone: 'UTC', idleDays: 30, offlineAfter: '15m' }, now);
    upsertInstrument(t.ctx, { id: 'CT-1', quotaHours: 1400 }); // metrics only, no thresholds
    upsertInstrument(t.ctx, { id: 'NEVER', quotaHours: 1400 });
    // OFF: its agent reports "off" every 10 minutes for 40 days, up to now.
    const seq = { next: 0 };
    await t.sendAll(
      telemetryEvery('OFF', '2026-10-20T12:00:00Z', '2026-11-29T12:00:00Z', 10 * MIN, 'off', seq),
    );
    // GONE: powered 60 days ago, then its agent went quiet after reporting off for a day.
    await t.send('GONE', 'state', { ts: now - 60 * DAY, seq: 1, state: 'running', since: now - 60 * DAY });
    await t.sendAll(
      telemetryEvery('GONE', '2026-09-30T13:00:00Z', '2026-10-01T13:00:00Z', 10 * MIN, 'off', { next: 2 }),
    );
    // CT-1: reports power for 40 days, but nothing classifies it.
    await t.sendAll(
      telemetryEvery(
        'CT-1',
        '2026-10-20T12:00:00Z',
        '2026-11-29T12:00:00Z',
        10 * MIN,
        undefined,
        { next: 0 },
        {
          power_w: 3,
        },
      ),
    );
    const idle = getIdle(t.ctx);
    const byId = Object.fromEntries(idle.items.map((i) => [i.id, i]));
    expect(Object.keys(byId).sort()).toEqual(['CT-1', 'GONE', 'OFF']);
    expect(byId.OFF).toMatchObject({
      reason: 'not_powered',
      lastSeen: '2026-11-29T11:50:00.000+00:00',
      window: { from: '2026-10-30', to: '2026-11-29' },
      coverage: 1,
    });
    expect(byId.GONE).toMatchObject({
      reason: 'silent',
      lastSeen: '2026-10-01T12:50:00.000+00:00',
      lastPoweredAt: '2026-09-30T12:00:00.000+00:00',
      idleDays: 60,
      coverage: 0,
    });
    expect(byId['CT-1']).toMatchObject({ reason: 'no_state', coverage: 0 });
    expect(idle.neverReported).toEqual([{ id: 'NEVER', org: null, name: null, reason: 'never_seen' }]);
  });
});

describe('registry', () => {
  it('the config seeds only missing ids; API edits win; bare rows made by ingest are filled', async () => {
    t = openDeriveDb({ timezone: 'UTC' }, Date.parse('2026-11-29T08:00:00Z'));
    expect(upsertInstrument(t.ctx, { id: 'EDITED', name: 'from the API', quotaHours: 800 })).toEqual({
      created: true,
      rederived: false,
    });
    // Reports before being registered: ingest adds a bare row, with telemetry it cannot classify yet.
    const seq = { next: 0 };
    await t.sendAll(
      telemetryEvery('BARE', '2026-11-28T10:00:00Z', '2026-11-28T11:00:00Z', MIN, undefined, seq, {
        power_w: 900,
      }),
    );
    const written = seedRegistry(t.ctx, [
      { id: 'EDITED', name: 'from the config', quotaHours: 1400 },
      { id: 'NEW', name: 'new from the config', quotaHours: 1400 },
      {
        id: 'BARE',
        name: 'seeded',
        quotaHours: 1400,
        thresholds: { signal: 'power_w', standby: 5, idle: 50, running: 500 },
      },
    ]);
    expect(written.sort()).toEqual(['BARE', 'NEW']);
    expect(getInstrument(t.ctx, 'EDITED')).toMatchObject({ name: 'from the API', quotaHours: 800 });
    expect(getInstrument(t.ctx, 'NEW')).toMatchObject({ name: 'new from the config', state: 'unknown' });
    // The seed's thresholds classify the telemetry that arrived before them.
    expect(getInstrument(t.ctx, 'BARE')).toMatchObject({
      name: 'seeded',
      lastRunningAt: '2026-11-28T10:59:00.000+00:00',
    });
  });

  it('refuses an invalid entry with the path of what was wrong', () => {
    t = openDeriveDb({ timezone: 'UTC' });
    expect(() =>
      upsertInstrument(t!.ctx, {
        id: 'X',
        quotaHours: 1400,
        thresholds: { signal: 'power_w', standby: 50, idle: 10, running: 5 },
      }),
    ).toThrow(/^body\.thresholds: standby 50, idle 10, running 5 do not rise: /);
    expect(() => upsertInstrument(t!.ctx, { id: 'bad id!', quotaHours: 1400 })).toThrow(/^body\.id: /);
    // standby 0: an unplugged instrument (0 W) would count as powered, and off never be reached
    expect(() =>
      upsertInstrument(t!.ctx, {
        id: 'X',
        quotaHours: 1400,
        thresholds: { signal: 'power_w', standby: 0, idle: 10, running: 50 },
      }),
    ).toThrow(/^body\.thresholds\.standby: must be above 0: /);
  });
});
