/**
 * stateSince over long runs: the walk over stored days (daily_usage tails) must give what the
 * timeline over every observation gives, whatever was stored when.
 */
import type { State } from '@dayi/protocols';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { recomputeDirty } from '../src/derive/io/recompute.ts';
import { loadLatestRun } from '../src/derive/io/state-run.ts';
import { timeline } from '../src/derive/pure/timeline.ts';
import { getInstrument } from '../src/query/index.ts';
import { type DeriveDb, type Message, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('stateSince over days', () => {
  it('follows a run back over 40 days, and is cut by a gap or a late observation of another state', async () => {
    const now = Date.parse('2026-11-29T12:00:00+08:00');
    t = openDeriveDb({ timezone: 'Asia/Shanghai', offlineAfter: '15m' }, now);
    const id = 'MAGNET-1';
    const seq = { next: 0 };
    await t.sendAll(
      telemetryEvery(id, '2026-10-20T09:30:00+08:00', '2026-11-29T12:00:00+08:00', 10 * MIN, 'idle', seq),
    );
    expect(getInstrument(t.ctx, id)).toMatchObject({
      state: 'idle',
      stateSince: '2026-10-20T09:30:00.000+08:00',
    });
    // Now that the days are stored, the same answer from their tails.
    expect(t.ctx.db.prepare('SELECT COUNT(*) AS n FROM daily_usage').get()).toEqual({ n: 40 });
    expect(getInstrument(t.ctx, id)).toMatchObject({ stateSince: '2026-10-20T09:30:00.000+08:00' });

    // A late `standby` on 2026-11-10 at 13:05 breaks the run: it restarts at the next idle (13:10).
    await t.send(id, 'telemetry', {
      ts: Date.parse('2026-11-10T13:05:00+08:00'),
      seq: seq.next++,
      metrics: {},
      state: 'standby',
    });
    expect(getInstrument(t.ctx, id)).toMatchObject({ stateSince: '2026-11-10T13:10:00.000+08:00' });
  });

  it('a silent day (no evidence at all) ends the run', async () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '15m' }, now);
    const seq = { next: 0 };
    await t.sendAll([
      ...telemetryEvery('S-1', '2026-11-20T00:00:00Z', '2026-11-24T00:00:00Z', 10 * MIN, 'running', seq),
      ...telemetryEvery('S-1', '2026-11-26T00:00:00Z', '2026-11-29T12:00:00Z', 10 * MIN, 'running', seq),
    ]);
    expect(getInstrument(t.ctx, 'S-1')).toMatchObject({ stateSince: '2026-11-26T00:00:00.000+00:00' });
    // 2026-11-25 has no stored row at all (nothing touched it); 2026-11-24 only the stale tail.
    expect(
      t.ctx.db.prepare("SELECT date FROM daily_usage WHERE date IN ('2026-11-24', '2026-11-25')").all(),
    ).toEqual([{ date: '2026-11-24' }]);
  });

  const OFF = 30 * MIN;
  const BASE = Date.parse('2026-11-20T00:00:00Z');
  const state = fc.constantFrom<State>('off', 'idle', 'running');
  // Long steady stretches with occasional changes and gaps, so runs cross days.
  const stretch = fc.record({
    state,
    lengthMin: fc.integer({ min: 10, max: 3 * 24 * 60 }),
    stepMin: fc.constantFrom(5, 10, 29, 31),
    gapMin: fc.constantFrom(0, 0, 0, 45, 24 * 60 + 7),
  });

  it('equals the timeline over every observation (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stretch, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 99 }),
        fc.array(fc.integer({ min: 0, max: 10 * DAY }), { maxLength: 3 }),
        async (stretches, lateShare, clocks) => {
          const messages: Message[] = [];
          let ts = BASE;
          let seq = 0;
          for (const s of stretches) {
            const end = ts + s.lengthMin * MIN;
            for (; ts < end; ts += s.stepMin * MIN) {
              messages.push({
                id: 'P',
                kind: 'telemetry',
                payload: { ts, seq: seq++, metrics: {}, state: s.state },
              });
            }
            ts += s.gapMin * MIN;
          }
          const lastTs = (messages[messages.length - 1]!.payload as { ts: number }).ts;
          t = openDeriveDb({ timezone: 'Asia/Shanghai', offlineAfter: OFF }, lastTs + 10 * MIN);
          try {
            // Most messages in order; a share of them held back and sent late, after days were stored.
            const late = messages.filter((_, i) => (i * 37) % 100 < lateShare);
            const onTime = messages.filter((_, i) => (i * 37) % 100 >= lateShare);
            await t.sendAll(onTime);
            for (const c of clocks) {
              t.clock.now = Math.max(lastTs + 10 * MIN, BASE + c);
              recomputeDirty(t.ctx);
              loadLatestRun(t.ctx, 'P');
            }
            await t.sendAll(late);
            const all = messages.map((m, i) => ({
              ts: (m.payload as { ts: number }).ts,
              state: (m.payload as { state: State }).state,
              order: onTime.includes(m) ? i : messages.length + i,
            }));
            const window = { start: BASE - DAY, end: lastTs + 1 };
            const segs = timeline(all, window, { offlineAfterMs: OFF, now: window.end });
            const run = loadLatestRun(t.ctx, 'P');
            expect(run).toEqual({
              ts: lastTs,
              state: segs[segs.length - 1]!.state,
              runStart: segs[segs.length - 1]!.start,
            });
          } finally {
            await t.close();
            t = undefined;
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
