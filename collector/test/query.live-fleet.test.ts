import { afterEach, describe, expect, it } from 'vitest';
import { computeDays } from '../src/derive/io/recompute.ts';
import { addDays, dateOf, dayBounds } from '../src/derive/pure/calendar.ts';
import { liveTotals, periodOf, storedUntil } from '../src/query/period.ts';
import { getUsage } from '../src/query/usage.ts';
import { getUtilization } from '../src/query/utilization.ts';
import { type DeriveDb, type Message, openDeriveDb } from './helpers/derive-db.ts';

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const TZ = 'Asia/Shanghai';
const STATES = ['off', 'standby', 'idle', 'running'] as const;

/**
 * The live days of a fleet (today, and yesterday shortly after midnight) are computed only for the
 * recent instruments with an observation in the live window (one statement finds them): each must
 * equal the per-instrument computation /usage makes, including evidence from just before the window
 * still fresh in it, and the per-group figures (more than 200 live instruments: the registry read
 * in one statement) the sums of /usage.
 */
describe('live days over a fleet', () => {
  let d: DeriveDb;
  afterEach(async () => d.close());

  for (const nowIso of ['2026-11-29T12:00:00+08:00', '2026-11-29T00:03:00+08:00']) {
    it(`equal the per-instrument computation and /usage (now ${nowIso})`, async () => {
      const now = Date.parse(nowIso);
      d = openDeriveDb({ timezone: TZ, offlineAfter: '5m' }, now);
      const r = rng(now % 1000);
      const register = d.ctx.db.prepare(
        `INSERT INTO instruments (id, name, org, category, quota_hours, idle_days, thresholds, created_at, updated_at)
         VALUES (?, NULL, ?, ?, 1400, NULL, NULL, 0, 0)`,
      );
      const messages: Message[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 260; i++) {
        const id = `LIVE-${String(i).padStart(3, '0')}`;
        ids.push(id);
        // a few unregistered: they count under the null group
        if (i % 37 !== 5) register.run(id, ['Org A', 'Org B', null][i % 3]!, ['NMR', 'SEM'][i % 2]!);
        // some never report; the others a few states from the day before yesterday evening to now
        const n = i % 11 === 0 ? 0 : 1 + Math.floor(r() * 12);
        const stamps = Array.from(
          { length: n },
          () => now - 30 * 3_600_000 + Math.floor(r() * 30 * 3_600_000),
        );
        // same-timestamp evidence: the later message wins, as in /usage
        if (n > 2) stamps.push(stamps[0]!);
        stamps.forEach((ts, seq) => {
          const state = STATES[Math.floor(r() * STATES.length)]!;
          messages.push({ id, kind: 'telemetry', payload: { ts, seq: seq + 1, metrics: {}, state } });
        });
      }
      const today = dateOf(now, TZ);
      // Evidence only from before the first live day, still fresh into it (offlineAfter 5 min).
      const firstLive = dayBounds(nowIso.includes('T00:03') ? addDays(today, -1) : today, TZ).start;
      ids.push('EDGE-1');
      register.run('EDGE-1', 'Org A', 'NMR');
      messages.push({
        id: 'EDGE-1',
        kind: 'telemetry',
        payload: { ts: firstLive - 2 * 60_000, seq: 1, metrics: {}, state: 'running' },
      });
      for (const o of await d.sendAll(messages)) expect(o).toBe('accepted');
      const from = addDays(today, -3);
      const period = periodOf(d.ctx, from, today);
      const storedTo = storedUntil(d.ctx, period, now);
      const liveDates = period.days.filter((x) => x.date > storedTo && x.start < now).map((x) => x.date);
      expect(liveDates.length).toBe(nowIso.includes('T00:03') ? 2 : 1);
      const lives = liveTotals(d.ctx, period, storedTo, now);
      let nonZero = 0;
      for (const id of ids) {
        const expected = { p: 0, r: 0, c: 0 };
        for (const day of computeDays(d.ctx, id, liveDates, now)) {
          expected.p += day.poweredMs;
          expected.r += day.runningMs;
          expected.c += day.coveredMs;
        }
        expect([id, lives.get(id) ?? { p: 0, r: 0, c: 0 }]).toEqual([id, expected]);
        if (expected.c > 0) nonZero++;
      }
      expect(lives.get('EDGE-1')).toEqual({ p: 3 * 60_000, r: 3 * 60_000, c: 3 * 60_000 });
      expect(nonZero).toBeGreaterThan(200);

      const usage = new Map(ids.map((id) => [id, getUsage(d.ctx, id, from, today)]));
      const category = new Map(
        (
          d.ctx.db.prepare('SELECT id, category FROM instruments').all() as { id: string; category: string }[]
        ).map((x) => [x.id, x.category]),
      );
      for (const opts of [{}, { org: 'Org A' }]) {
        const grouped = getUtilization(d.ctx, { from, to: today, groupBy: 'category', ...opts });
        for (const g of grouped.items) {
          const members = ids.filter(
            (id) =>
              (category.get(id) ?? null) === g.group &&
              (!('org' in opts) ||
                (
                  d.ctx.db.prepare('SELECT org FROM instruments WHERE id = ?').get(id) as
                    | { org: string }
                    | undefined
                )?.org === opts.org),
          );
          expect(g.instruments).toBe(members.length);
          for (const f of ['poweredHours', 'runningHours'] as const) {
            const sum = members.reduce((s, id) => s + usage.get(id)![f], 0);
            expect(Math.abs(g[f] - sum), `${g.group} ${f}`).toBeLessThanOrEqual(0.01 * members.length);
          }
        }
      }
      const per = getUtilization(d.ctx, { from, to: today, groupBy: 'instrument' });
      for (const item of per.items) {
        const u = usage.get(item.group!)!;
        expect([item.group, item.poweredHours, item.runningHours, item.coverage]).toEqual([
          item.group,
          u.poweredHours,
          u.runningHours,
          u.coverage,
        ]);
      }
    });
  }
});
