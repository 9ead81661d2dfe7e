import type { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/sqlite.ts';

/** Migration 11's rollups must always equal what daily_usage and the registry give directly. */
function expectFleetRollupsExact(db: DatabaseSync) {
  for (const dim of ['org', 'category'] as const) {
    const direct = db
      .prepare(
        `SELECT d.date, COALESCE(i.${dim}, '') AS grp, SUM(d.powered_ms) AS p, SUM(d.running_ms) AS r, SUM(d.covered_ms) AS c
           FROM daily_usage d LEFT JOIN instruments i ON i.id = d.instrument_id GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .all();
    const rolled = db
      .prepare(
        `SELECT date, grp, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_group_day
           WHERE dim = ? AND (powered_ms != 0 OR running_ms != 0 OR covered_ms != 0 OR EXISTS (
             SELECT 1 FROM daily_usage d LEFT JOIN instruments i ON i.id = d.instrument_id
              WHERE d.date = usage_group_day.date AND COALESCE(i.${dim}, '') = usage_group_day.grp))
           ORDER BY 1, 2`,
      )
      .all(dim);
    expect(rolled).toEqual(direct);
    const months = db
      .prepare(
        `SELECT month, grp, powered_ms AS p, running_ms AS r, covered_ms AS c FROM usage_group_month
          WHERE dim = ? AND (powered_ms != 0 OR running_ms != 0 OR covered_ms != 0) ORDER BY 1, 2`,
      )
      .all(dim);
    const monthsDirect = db
      .prepare(
        `SELECT substr(d.date, 1, 7) AS month, COALESCE(i.${dim}, '') AS grp, SUM(d.powered_ms) AS p,
           SUM(d.running_ms) AS r, SUM(d.covered_ms) AS c
           FROM daily_usage d LEFT JOIN instruments i ON i.id = d.instrument_id GROUP BY 1, 2
           HAVING p != 0 OR r != 0 OR c != 0 ORDER BY 1, 2`,
      )
      .all();
    expect(months).toEqual(monthsDirect);
  }
  // Gaps: recomputed from the powered days, by JavaScript this time.
  const powered = db
    .prepare('SELECT instrument_id AS id, date FROM daily_usage WHERE powered_ms > 0 ORDER BY 1, 2')
    .all() as { id: string; date: string }[];
  const byId = new Map<string, string[]>();
  for (const r of powered) byId.set(r.id, [...(byId.get(r.id) ?? []), r.date]);
  const days = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 86_400_000;
  const expected: { instrument_id: string; after: string; before: string }[] = [];
  for (const [id, dates] of [...byId].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const all = ['0000-01-01', ...dates, '9999-12-31'];
    for (let i = 1; i < all.length; i++) {
      if (days(all[i - 1]!, all[i]!) > 8)
        expected.push({ instrument_id: id, after: all[i - 1]!, before: all[i]! });
    }
  }
  expect(
    db
      .prepare('SELECT instrument_id, after, before FROM usage_gaps ORDER BY 1, 2')
      .all()
      .map((r) => ({ ...r })),
  ).toEqual(expected);
}

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

describe('fleet rollups (migration 10)', () => {
  let db: DatabaseSync;
  afterEach(() => db.close());

  it('stay exact through random writes of days, registry changes and deletes, and match a backfill', () => {
    db = openDatabase(':memory:');
    const r = rng(11);
    const ids = Array.from({ length: 6 }, (_, i) => `I-${i}`);
    const orgs = ['浙江大学', 'Org B', null];
    const dates = Array.from({ length: 60 }, (_, i) =>
      new Date(Date.parse('2026-01-01T00:00:00Z') + i * 86_400_000).toISOString().slice(0, 10),
    );
    const upsertDay = db.prepare(
      `INSERT INTO daily_usage (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at)
       VALUES (?, ?, ?, ?, ?, 86400000, 0)
       ON CONFLICT (instrument_id, date) DO UPDATE SET powered_ms = excluded.powered_ms,
         running_ms = excluded.running_ms, covered_ms = excluded.covered_ms`,
    );
    const upsertInstrument = db.prepare(
      `INSERT INTO instruments (id, name, org, category, quota_hours, idle_days, thresholds, created_at, updated_at)
       VALUES (?, NULL, ?, ?, 1400, NULL, NULL, 0, 0)
       ON CONFLICT (id) DO UPDATE SET org = excluded.org, category = excluded.category`,
    );
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
    for (let step = 0; step < 3000; step++) {
      const x = r();
      const id = pick(ids);
      if (x < 0.75) {
        // powered on about a third of the writes, in long runs of unpowered days otherwise
        const powered = r() < 0.35 ? Math.floor(r() * 80_000_000) : 0;
        upsertDay.run(id, pick(dates), powered, Math.floor(powered * r()), Math.floor(86_400_000 * r()));
      } else if (x < 0.85) {
        db.prepare('DELETE FROM daily_usage WHERE instrument_id = ? AND date = ?').run(id, pick(dates));
      } else if (x < 0.97) {
        upsertInstrument.run(id, pick(orgs), pick(['NMR', 'SEM', null]));
      } else {
        db.prepare('DELETE FROM instruments WHERE id = ?').run(id);
      }
      if (step % 500 === 499) expectFleetRollupsExact(db);
    }
    expectFleetRollupsExact(db);
    // A backfill from scratch gives the same gaps as the triggers kept.
    const kept = db.prepare('SELECT * FROM usage_gaps ORDER BY 1, 2').all();
    db.exec('DELETE FROM usage_gaps');
    db.exec(`INSERT INTO usage_gaps (instrument_id, after, before)
      SELECT instrument_id, a, b FROM (
        SELECT instrument_id, COALESCE(LAG(date) OVER w, '0000-01-01') AS a, date AS b
          FROM daily_usage WHERE powered_ms > 0 WINDOW w AS (PARTITION BY instrument_id ORDER BY date)
        UNION ALL
        SELECT instrument_id, MAX(date), '9999-12-31' FROM daily_usage WHERE powered_ms > 0 GROUP BY instrument_id)
      WHERE julianday(b) - julianday(a) > 8`);
    expect(db.prepare('SELECT * FROM usage_gaps ORDER BY 1, 2').all()).toEqual(kept);
  });
});
