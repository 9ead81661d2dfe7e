import { afterEach, describe, expect, it } from 'vitest';
import { recomputeDirty } from '../src/derive/io/recompute.ts';
import { getUsage } from '../src/query/index.ts';
import { type DeriveDb, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

const MIN = 60_000;
let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('recomputeDirty', () => {
  it('stores a day once it is final, answers it live before, and clears its mark', async () => {
    t = openDeriveDb(
      { timezone: 'Asia/Shanghai', offlineAfter: '5m' },
      Date.parse('2026-11-02T23:58:00+08:00'),
    );
    const id = 'R-1';
    const seq = { next: 0 };
    await t.sendAll(
      telemetryEvery(id, '2026-11-02T23:00:00+08:00', '2026-11-02T23:58:00+08:00', MIN, 'running', seq),
    );
    const rows = () => t!.ctx.db.prepare('SELECT date, running_ms, computed_at FROM daily_usage').all();
    const dirty = () => t!.ctx.db.prepare('SELECT date FROM dirty_days ORDER BY date').all();

    // Today is not final: the mark stays, the answer is computed live (58 min so far).
    expect(recomputeDirty(t.ctx)).toBe(0);
    expect(dirty()).toEqual([{ date: '2026-11-02' }, { date: '2026-11-03' }]);
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-02').runningHours).toBe(0.97);

    // 00:03 the next day: the last message (23:57) still holds until 00:02, so 2026-11-02 is not
    // final until 00:05.
    t.clock.now = Date.parse('2026-11-03T00:03:00+08:00');
    expect(recomputeDirty(t.ctx)).toBe(0);
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-03').days.map((d) => d.runningHours)).toEqual([
      1, 0.03,
    ]);

    t.clock.now = Date.parse('2026-11-03T00:05:00+08:00');
    expect(recomputeDirty(t.ctx)).toBe(1);
    expect(rows()).toEqual([{ date: '2026-11-02', running_ms: 60 * MIN, computed_at: t.clock.now }]);
    expect(dirty()).toEqual([{ date: '2026-11-03' }]);

    // A late message marks the stored day dirty again and the stored figure follows.
    await t.send(id, 'telemetry', {
      ts: Date.parse('2026-11-02T22:58:00+08:00'),
      seq: 1000,
      metrics: {},
      state: 'running',
    });
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-02').runningHours).toBe(1.03);
    expect(rows()).toEqual([{ date: '2026-11-02', running_ms: 62 * MIN, computed_at: t.clock.now }]);

    expect(recomputeDirty(t.ctx, { includePending: true })).toBe(1);
    expect(dirty()).toEqual([]);
  });

  it('in the background, waits until a backfilled day has been quiet; queries do not wait', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-20T12:00:00Z'));
    const seq = { next: 0 };
    const backfill = (from: string, to: string) =>
      t!.sendAll(telemetryEvery('Q-1', from, to, MIN, 'running', seq));
    await backfill('2026-11-10T08:00:00Z', '2026-11-10T09:00:00Z');
    t.clock.now += 3000;
    // marked 3 s ago: the background pass leaves it
    expect(recomputeDirty(t.ctx, { quietMs: 5000 })).toBe(0);
    // the backfill goes on writing to the same day: still not quiet 3 s later
    await backfill('2026-11-10T09:00:00Z', '2026-11-10T10:00:00Z');
    t.clock.now += 3000;
    expect(recomputeDirty(t.ctx, { quietMs: 5000 })).toBe(0);
    // a query in the meantime gets the exact figure all the same (the last minute holds 5 min)
    expect(getUsage(t.ctx, 'Q-1', '2026-11-10', '2026-11-10').runningHours).toBe(2.07);
    await backfill('2026-11-10T10:00:00Z', '2026-11-10T11:00:00Z');
    t.clock.now += 5000;
    expect(recomputeDirty(t.ctx, { quietMs: 5000 })).toBe(1);
    expect(t.ctx.db.prepare('SELECT date, running_ms FROM daily_usage').all()).toEqual([
      { date: '2026-11-10', running_ms: (3 * 60 + 4) * MIN },
    ]);
  });

  it('only touches the instrument and dates asked for', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-20T00:00:00Z'));
    const seq = { next: 0 };
    await t.sendAll([
      ...telemetryEvery('A', '2026-11-02T10:00:00Z', '2026-11-02T10:10:00Z', MIN, 'idle', seq),
      ...telemetryEvery('A', '2026-11-05T10:00:00Z', '2026-11-05T10:10:00Z', MIN, 'idle', seq),
      ...telemetryEvery('B', '2026-11-02T10:00:00Z', '2026-11-02T10:10:00Z', MIN, 'idle', seq),
    ]);
    expect(recomputeDirty(t.ctx, { instrumentId: 'A', upTo: '2026-11-03' })).toBe(1);
    expect(t.ctx.db.prepare('SELECT instrument_id, date FROM dirty_days ORDER BY 1, 2').all()).toEqual([
      { instrument_id: 'A', date: '2026-11-05' },
      { instrument_id: 'B', date: '2026-11-02' },
    ]);
  });
});
