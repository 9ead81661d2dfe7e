import { afterEach, describe, expect, it } from 'vitest';
import { recomputeDirty } from '../src/derive/io/recompute.ts';
import { rederive } from '../src/derive/io/rederive.ts';
import { type DeriveDb, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

/** The monthly rollups (migration 7) must always equal what daily_usage sums to. */
function expectRollupsExact(d: DeriveDb) {
  const { db } = d.ctx;
  const fromDaily = db
    .prepare(
      `SELECT instrument_id, substr(date, 1, 7) AS month, SUM(powered_ms) AS p, SUM(running_ms) AS r, SUM(covered_ms) AS c
         FROM daily_usage GROUP BY 1, 2 ORDER BY 1, 2`,
    )
    .all();
  const months = db
    .prepare(
      `SELECT instrument_id, month, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month
         WHERE powered_ms != 0 OR running_ms != 0 OR covered_ms != 0 OR EXISTS (
           SELECT 1 FROM daily_usage d WHERE d.instrument_id = usage_month.instrument_id AND substr(d.date, 1, 7) = usage_month.month)
         ORDER BY 1, 2`,
    )
    .all();
  expect(months).toEqual(fromDaily);
  const cumFromDaily = db
    .prepare(
      `SELECT instrument_id, date, SUM(powered_ms) OVER w AS p, SUM(running_ms) OVER w AS r, SUM(covered_ms) OVER w AS c
         FROM daily_usage WINDOW w AS (PARTITION BY instrument_id, substr(date, 1, 7) ORDER BY date) ORDER BY 1, 2`,
    )
    .all();
  const cum = db
    .prepare(
      'SELECT instrument_id, date, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_month_cum ORDER BY 1, 2',
    )
    .all();
  expect(cum).toEqual(cumFromDaily);
}

describe('usage rollups by month', () => {
  let d: DeriveDb;
  afterEach(async () => {
    await d.close();
  });

  it('stay exact through ingest, recompute, late data out of order and rederive', async () => {
    d = openDeriveDb(
      { timezone: 'Asia/Shanghai', offlineAfter: '5m' },
      Date.parse('2026-12-20T12:00:00+08:00'),
    );
    const seq = { next: 1 };
    await d.sendAll(
      telemetryEvery(
        'R-1',
        '2026-10-30T22:00:00+08:00',
        '2026-11-02T03:00:00+08:00',
        10 * 60_000,
        'running',
        seq,
      ),
    );
    await d.sendAll(
      telemetryEvery('R-2', '2026-11-15T08:00:00+08:00', '2026-11-15T12:00:00+08:00', 5 * 60_000, 'idle', {
        next: 1,
      }),
    );
    recomputeDirty(d.ctx);
    expectRollupsExact(d);
    // Late data into days already stored, in the middle of a month: every later cum row moves.
    await d.sendAll(
      telemetryEvery(
        'R-1',
        '2026-11-01T05:00:00+08:00',
        '2026-11-01T06:00:00+08:00',
        5 * 60_000,
        'off',
        seq,
      ).reverse(),
    );
    await d.sendAll(
      telemetryEvery(
        'R-1',
        '2026-10-15T05:00:00+08:00',
        '2026-10-15T06:00:00+08:00',
        5 * 60_000,
        'standby',
        seq,
      ),
    );
    recomputeDirty(d.ctx);
    expectRollupsExact(d);
    rederive(d.ctx, 'R-1');
    expectRollupsExact(d);
    rederive(d.ctx);
    expectRollupsExact(d);
    expect(d.ctx.db.prepare('SELECT COUNT(*) AS n FROM usage_month_cum').get()).toEqual({
      n: expect.any(Number),
    });
  });
});
