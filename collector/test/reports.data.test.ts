import type { State } from '@dayi/protocols';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, startOfDate } from '../src/derive/pure/calendar.ts';
import { getUsage, recomputeDirty } from '../src/query/index.ts';
import { reportPeriod } from '../src/reports/core/period.ts';
import { buildUptimeReport } from '../src/reports/core/uptime.ts';
import { loadUptimeFacts } from '../src/reports/data.ts';
import { buildApi, submit } from './helpers/e2e-api.ts';

/**
 * The report's fleet-wide read equals /usage's per-instrument answer, instrument by instrument,
 * for periods that end in the past, today, or in the future; with stored final days, days still
 * dirty, today's and yesterday's live days; in a zone without DST (arithmetic finality) and one
 * with DST (the lookup table).
 */

const STATES: State[] = ['off', 'standby', 'idle', 'running', 'fault'];
const MIN = 60_000;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

function reportAt(
  ctx: FastifyInstance['dayi']['ctx'],
  from: string,
  to: string,
  timezone: string,
  now: number,
) {
  const period = reportPeriod(from, to, { timezone, offlineAfterMs: 300_000, now });
  return buildUptimeReport({
    meta: { reportId: 'r', from, to, timezone, org: null, idleThresholdDays: 90, keyId: 'k', lang: 'en' },
    period,
    facts: loadUptimeFacts(ctx, period, null),
    groups: [],
  });
}

/** Each row's hours and coverage equal getUsage's (the /usage route's code) for the same period. */
function expectUsageEqual(ctx: FastifyInstance['dayi']['ctx'], report: ReturnType<typeof buildUptimeReport>) {
  const { from, to } = report.meta;
  for (const row of report.rows) {
    const u = getUsage(ctx, row.id, from, to);
    expect([row.poweredHours, row.runningHours, row.coveragePct], `${row.id} ${from}..${to}`).toEqual([
      u.poweredHours,
      u.runningHours,
      u.coverage === null ? null : Math.round(u.coverage * 10_000) / 100,
    ]);
  }
}

for (const { timezone, today } of [
  { timezone: 'Asia/Shanghai', today: '2026-11-20' },
  { timezone: 'Europe/Berlin', today: '2026-11-03' }, // DST ended 2026-10-25
]) {
  describe(`report facts equal /usage (${timezone})`, () => {
    let now = startOfDate(today, timezone) + 10 * 3_600_000 + 17 * MIN + 3_456;
    const ids = Array.from({ length: 10 }, (_, i) => `FLEET-${i}`);
    let app: FastifyInstance;

    beforeAll(async () => {
      app = await buildApi(
        {
          timezone,
          offlineAfter: '5m',
          agents: [{ username: 'a', password: 'agent-password-1', instruments: ids }],
          instruments: [
            ...ids.slice(0, 9).map((id, i) => ({ id, org: `Org ${i % 3}`, quotaHours: 1400 })),
            { id: 'NEVER-1', org: 'Org 0' },
          ],
        },
        () => now,
      );
      const random = rng(timezone.length);
      for (const [k, id] of ids.entries()) {
        // Bursts of minute samples, some across midnight, over the last 40 days up to now;
        // FLEET-9 is not in the registry (it reports anyway).
        let seq = 0;
        for (let burst = 0; burst < 14; burst++) {
          let t = now - Math.floor(random() * 40 * 86_400_000);
          if (k === 0 && burst === 0) t = now - 50 * MIN; // one running into "now"
          const n = 5 + Math.floor(random() * 300);
          for (let i = 0; i < n && t < now; i++) {
            const state = STATES[Math.floor(random() * STATES.length)]!;
            await submit(app, id, 'telemetry', { ts: t, seq: seq++, metrics: { power_w: 1 }, state });
            t += random() < 0.1 ? 11 * MIN : MIN; // sometimes a gap longer than offlineAfter
          }
        }
      }
    });
    afterAll(async () => {
      await app?.close();
    });

    const periods = [
      [addDays(today, -45), addDays(today, -1)],
      [addDays(today, -30), today],
      [addDays(today, -1), addDays(today, 5)],
      [addDays(today, -20), addDays(today, -20)],
      [addDays(today, 1), addDays(today, 10)],
      [addDays(today, -366 + 1), today],
    ] as const;

    it('powered, running and coverage of every instrument, for every period', () => {
      const ctx = app.dayi.ctx;
      for (const [from, to] of periods) {
        const report = reportAt(ctx, from, to, timezone, now);
        expect(report.rows.map((r) => r.id).sort()).toEqual([...ids, 'NEVER-1'].sort());
        expectUsageEqual(ctx, report);
        const total = report.rows.reduce((s, r) => s + r.poweredHours, 0);
        if (from < today) expect(total).toBeGreaterThan(0);
      }
    });

    it('idle days at the end of a past period come from the last powered observation before it', () => {
      const ctx = app.dayi.ctx;
      for (const to of [addDays(today, -25), addDays(today, -10), addDays(today, -2)]) {
        const period = reportPeriod(addDays(to, -5), to, { timezone, offlineAfterMs: 300_000, now });
        for (const f of loadUptimeFacts(ctx, period, null)) {
          const expected = ctx.db
            .prepare(
              "SELECT MAX(ts) AS ts FROM observations WHERE instrument_id = ? AND ts < ? AND state <> 'off'",
            )
            .get(f.id, period.endsAt) as { ts: number | null };
          expect(f.lastPoweredBeforeEnd, `${f.id} at ${to}`).toBe(expected.ts);
        }
      }
    });

    it('a stored day that is not final yet (stored early, time has passed) is computed afresh, as /usage does', () => {
      const ctx = app.dayi.ctx;
      // Today's and yesterday's rows stored now, then the clock moves on.
      recomputeDirty(ctx, { includePending: true });
      const stored = ctx.db.prepare('SELECT COUNT(*) AS n FROM daily_usage WHERE date = ?').get(today) as {
        n: number;
      };
      expect(stored.n).toBeGreaterThan(0);
      const before = getUsage(ctx, 'FLEET-0', today, today);
      now += 2 * 3_600_000;
      const after = getUsage(ctx, 'FLEET-0', today, today);
      expect(after.coverage).not.toBe(before.coverage);
      expectUsageEqual(ctx, reportAt(ctx, addDays(today, -3), today, timezone, now));
    });
  });
}
