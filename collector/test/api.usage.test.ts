import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idleResponse, usageResponse } from '../src/api/schemas.ts';
import { auth, buildApi, submit } from './helpers/e2e-api.ts';

const NOW = Date.parse('2026-11-29T12:00:00+08:00');
const MIN = 60_000;

describe('GET /v1/instruments/{id}/usage and /v1/idle', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi(
      {
        instruments: [
          { id: 'U-1', org: 'Org' },
          { id: 'U-2', org: 'Org', idleDays: 3 },
          { id: 'NEVER-1', name: 'Never' },
        ],
      },
      () => NOW,
    );
    // U-1: running 09:00–09:20 (20 min = 0.33 h after rounding) on 2026-11-10, as state messages.
    const t0 = Date.parse('2026-11-10T09:00:00+08:00');
    await submit(app, 'U-1', 'state', { ts: t0, seq: 1, state: 'running', since: t0 });
    for (let i = 1; i <= 20; i++) {
      await submit(app, 'U-1', 'telemetry', {
        ts: t0 + i * MIN,
        seq: i,
        metrics: {},
        state: i < 20 ? 'running' : 'off',
      });
    }
    // U-2: powered 5 days ago, its own idleDays is 3.
    const t2 = NOW - 5 * 86_400_000;
    await submit(app, 'U-2', 'telemetry', { ts: t2, seq: 1, metrics: {}, state: 'idle' });
    await submit(app, 'U-2', 'telemetry', { ts: t2 + MIN, seq: 2, metrics: {}, state: 'off' });
  });
  afterAll(async () => {
    await app.close();
  });
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auth('manager') });

  it('answers SPEC figures per day, hours rounded to 0.01, `to` included', async () => {
    const res = await get('/v1/instruments/U-1/usage?from=2026-11-09&to=2026-11-11');
    expect(res.statusCode).toBe(200);
    const u = usageResponse.parse(res.json());
    expect(u).toEqual({
      id: 'U-1',
      from: '2026-11-09',
      to: '2026-11-11',
      poweredHours: 0.33,
      runningHours: 0.33,
      coverage: expect.any(Number),
      days: [
        { date: '2026-11-09', poweredHours: 0, runningHours: 0, coverage: 0 },
        { date: '2026-11-10', poweredHours: 0.33, runningHours: 0.33, coverage: expect.any(Number) },
        { date: '2026-11-11', poweredHours: 0, runningHours: 0, coverage: 0 },
      ],
    });
    // Evidence from 09:00 to 09:25 (the last sample holds for offlineAfter, 5 min).
    expect(u.days[1]!.coverage).toBeCloseTo(25 / 1440, 4);
    expect(u.coverage).toBeCloseTo(25 / (3 * 1440), 4);
  });

  it('one day: from = to', async () => {
    const u = usageResponse.parse(
      (await get('/v1/instruments/U-1/usage?from=2026-11-10&to=2026-11-10')).json(),
    );
    expect(u.days.map((d) => d.date)).toEqual(['2026-11-10']);
  });

  it('/v1/idle uses each instrument its own idleDays unless days is given', async () => {
    const byOwn = idleResponse.parse((await get('/v1/idle')).json());
    // U-1 (19 days, the config's 90) is not idle; U-2 (5 days, its own 3) is.
    expect(byOwn.items.map((i) => [i.id, i.idleDays])).toEqual([['U-2', 5]]);
    expect(byOwn.neverReported).toEqual([{ id: 'NEVER-1', org: null, name: 'Never', reason: 'never_seen' }]);
    const byQuery = idleResponse.parse((await get('/v1/idle?days=10')).json());
    expect(byQuery.items.map((i) => [i.id, i.idleDays, i.lastPoweredAt])).toEqual([
      ['U-1', 19, '2026-11-10T09:19:00.000+08:00'],
    ]);
  });
});
