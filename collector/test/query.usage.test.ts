import { afterEach, describe, expect, it } from 'vitest';
import { getUsage, QueryError, recomputeDirty, upsertInstrument } from '../src/query/index.ts';
import { type DeriveDb, type Message, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

const MIN = 60_000;
let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function dayOf(answer: ReturnType<typeof getUsage>, date: string) {
  return answer.days.find((d) => d.date === date);
}

describe('getUsage', () => {
  it('a day with a lunch break: 9.00 h powered, 8.00 h running, coverage 0.4194', async () => {
    t = openDeriveDb(
      { timezone: 'Asia/Shanghai', offlineAfter: '5m' },
      Date.parse('2026-11-10T00:00:00+08:00'),
    );
    const seq = { next: 0 };
    const id = 'ZJ-NMR-0001';
    await t.sendAll([
      ...telemetryEvery(id, '2026-11-02T08:00:00+08:00', '2026-11-02T08:30:00+08:00', MIN, 'off', seq),
      ...telemetryEvery(id, '2026-11-02T08:30:00+08:00', '2026-11-02T12:00:00+08:00', MIN, 'running', seq),
      ...telemetryEvery(id, '2026-11-02T12:00:00+08:00', '2026-11-02T13:00:00+08:00', MIN, 'standby', seq),
      ...telemetryEvery(id, '2026-11-02T13:00:00+08:00', '2026-11-02T17:30:00+08:00', MIN, 'running', seq),
      ...telemetryEvery(id, '2026-11-02T17:30:00+08:00', '2026-11-02T18:00:00+08:00', MIN, 'off', seq),
    ]);
    const u = getUsage(t.ctx, id, '2026-11-01', '2026-11-03');
    expect(u).toEqual({
      id,
      from: '2026-11-01',
      to: '2026-11-03',
      poweredHours: 9,
      runningHours: 8,
      // 10 h 04 min of 72 h
      coverage: 0.1398,
      days: [
        { date: '2026-11-01', poweredHours: 0, runningHours: 0, coverage: 0 },
        { date: '2026-11-02', poweredHours: 9, runningHours: 8, coverage: 0.4194 },
        { date: '2026-11-03', poweredHours: 0, runningHours: 0, coverage: 0 },
      ],
    });
  });

  it('a run across midnight in Asia/Shanghai, replayed out of order with every message twice', async () => {
    const now = Date.parse('2026-11-10T00:00:00+08:00');
    const seq = { next: 0 };
    const id = 'ZJ-XRD-0002';
    const stream = [
      ...telemetryEvery(id, '2026-11-02T22:00:00+08:00', '2026-11-03T02:30:00+08:00', MIN, 'running', seq),
      ...telemetryEvery(id, '2026-11-03T02:30:00+08:00', '2026-11-03T03:00:00+08:00', MIN, 'off', seq),
    ];
    const expected = {
      poweredHours: 4.5,
      runningHours: 4.5,
      days: [
        { date: '2026-11-02', poweredHours: 2, runningHours: 2, coverage: 0.0833 },
        { date: '2026-11-03', poweredHours: 2.5, runningHours: 2.5, coverage: 0.1278 },
      ],
    };

    t = openDeriveDb({ timezone: 'Asia/Shanghai', offlineAfter: '5m' }, now);
    await t.sendAll(stream);
    const inOrder = getUsage(t.ctx, id, '2026-11-02', '2026-11-03');
    expect(inOrder).toMatchObject(expected);
    await t.close();

    t = openDeriveDb({ timezone: 'Asia/Shanghai', offlineAfter: '5m' }, now);
    // The second half first, then the first half backwards, each message twice, in separate commits.
    const replay: Message[] = [...stream.slice(150), ...stream.slice(0, 150).reverse()];
    const outcomes: string[] = [];
    for (let i = 0; i < replay.length; i += 37) outcomes.push(...(await t.sendAll(replay.slice(i, i + 37))));
    for (let i = 0; i < replay.length; i += 50) outcomes.push(...(await t.sendAll(replay.slice(i, i + 50))));
    expect(outcomes.filter((o) => o === 'accepted')).toHaveLength(stream.length);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(stream.length);
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-03')).toEqual(inOrder);
  });

  it('a late message re-derives the days it touches', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '10m' }, Date.parse('2026-11-10T00:00:00Z'));
    const id = 'LATE-1';
    const seq = { next: 0 };
    await t.sendAll(
      telemetryEvery(id, '2026-11-02T10:00:00Z', '2026-11-02T11:00:00Z', 5 * MIN, 'running', seq),
    );
    expect(dayOf(getUsage(t.ctx, id, '2026-11-02', '2026-11-02'), '2026-11-02')?.runningHours).toBe(1.08);
    // Half an hour of evidence from before, arriving a week late.
    await t.sendAll(telemetryEvery(id, '2026-11-02T09:30:00Z', '2026-11-02T10:00:00Z', 5 * MIN, 'idle', seq));
    const day = dayOf(getUsage(t.ctx, id, '2026-11-01', '2026-11-03'), '2026-11-02');
    // running 10:00-11:05 (the last message holds 10 min), idle 09:30-10:00: 95 min of 1440.
    expect(day).toEqual({ date: '2026-11-02', poweredHours: 1.58, runningHours: 1.08, coverage: 0.066 });
  });

  it('today counts only up to now, and grows as time passes with no new message', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-02T10:02:00Z'));
    const id = 'NOW-1';
    await t.send(id, 'state', {
      ts: Date.parse('2026-11-02T10:00:00Z'),
      seq: 1,
      state: 'running',
      since: Date.parse('2026-11-02T09:00:00Z'),
    });
    recomputeDirty(t.ctx);
    const at2 = getUsage(t.ctx, id, '2026-11-02', '2026-11-03');
    expect(at2.days).toEqual([
      { date: '2026-11-02', poweredHours: 0.03, runningHours: 0.03, coverage: 0.0033 },
      // Tomorrow has not begun: nothing can be known of it yet, which is not "no data" (0).
      { date: '2026-11-03', poweredHours: 0, runningHours: 0, coverage: null },
    ]);
    expect(getUsage(t.ctx, id, '2026-11-03', '2026-11-04')).toMatchObject({ coverage: null });
    t.clock.now = Date.parse('2026-11-02T12:00:00Z');
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-02').days[0]).toEqual({
      date: '2026-11-02',
      poweredHours: 0.08, // the state holds for offlineAfter (5 min), then unknown
      runningHours: 0.08,
      coverage: 0.0069, // 5 min of 12 h
    });
  });

  it('classifies telemetry without state with the registry thresholds, and re-derives when they change', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-10T00:00:00Z'));
    const id = 'CT-0001';
    upsertInstrument(t.ctx, {
      id,
      quotaHours: 1400,
      thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 400 },
    });
    const seq = { next: 0 };
    await t.sendAll([
      ...telemetryEvery(id, '2026-11-02T08:00:00Z', '2026-11-02T09:00:00Z', MIN, undefined, seq, {
        power_w: 500,
      }),
      ...telemetryEvery(id, '2026-11-02T09:00:00Z', '2026-11-02T10:00:00Z', MIN, undefined, seq, {
        power_w: 200,
      }),
    ]);
    const before = getUsage(t.ctx, id, '2026-11-02', '2026-11-02');
    expect(before).toMatchObject({ poweredHours: 2.07, runningHours: 1 });
    const result = upsertInstrument(t.ctx, {
      id,
      quotaHours: 1400,
      thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 150 },
    });
    expect(result).toEqual({ created: false, rederived: true });
    expect(getUsage(t.ctx, id, '2026-11-02', '2026-11-02')).toMatchObject({
      poweredHours: 2.07,
      runningHours: 2.07,
    });
    // Unchanged thresholds: nothing to re-derive.
    expect(
      upsertInstrument(t.ctx, {
        id,
        name: 'CT node',
        quotaHours: 800,
        thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 150 },
      }),
    ).toEqual({ created: false, rederived: false });
  });

  it('an instrument that never reported has zero hours and zero coverage', async () => {
    t = openDeriveDb({ timezone: 'UTC' }, Date.parse('2026-11-10T00:00:00Z'));
    upsertInstrument(t.ctx, { id: 'NEVER-1', quotaHours: 1400 });
    expect(getUsage(t.ctx, 'NEVER-1', '2026-11-01', '2026-11-02')).toEqual({
      id: 'NEVER-1',
      from: '2026-11-01',
      to: '2026-11-02',
      poweredHours: 0,
      runningHours: 0,
      coverage: 0,
      days: [
        { date: '2026-11-01', poweredHours: 0, runningHours: 0, coverage: 0 },
        { date: '2026-11-02', poweredHours: 0, runningHours: 0, coverage: 0 },
      ],
    });
  });

  it('refuses bad parameters with a typed error naming the parameter', async () => {
    t = openDeriveDb({ timezone: 'UTC' }, Date.parse('2026-11-10T00:00:00Z'));
    upsertInstrument(t.ctx, { id: 'X-1', quotaHours: 1400 });
    const fails = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(QueryError);
        return err as QueryError;
      }
      throw new Error('expected a QueryError');
    };
    expect(fails(() => getUsage(t!.ctx, 'X-1', '2026-11-31', '2026-12-01'))).toMatchObject({
      code: 'bad_request',
      param: 'from',
      message: expect.stringMatching(/^"2026-11-31" is not a date: use YYYY-MM-DD/),
    });
    expect(fails(() => getUsage(t!.ctx, 'X-1', '2026-11-01', 'tomorrow'))).toMatchObject({
      code: 'bad_request',
      param: 'to',
    });
    expect(fails(() => getUsage(t!.ctx, 'X-1', '2026-11-05', '2026-11-01'))).toMatchObject({
      code: 'bad_request',
      param: 'from',
      message: '2026-11-05 is after to 2026-11-01: use a from on or before to',
    });
    expect(fails(() => getUsage(t!.ctx, 'X-1', '2025-01-01', '2026-01-02'))).toMatchObject({
      code: 'bad_request',
      param: 'to',
      message: expect.stringContaining('367 days'),
    });
    expect(getUsage(t.ctx, 'X-1', '2024-01-01', '2024-12-31').days).toHaveLength(366);
    expect(fails(() => getUsage(t!.ctx, 'NOPE', '2026-11-01', '2026-11-01'))).toMatchObject({
      code: 'not_found',
      param: 'id',
      message: expect.stringMatching(/^no instrument "NOPE" in the registry: /),
    });
  });
});
