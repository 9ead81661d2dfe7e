/**
 * The series store contract, one suite for every implementation (the aedes-persistence pattern):
 * `seriesStoreContract(name, setup)` runs the same cases against whatever `setup` starts. Data goes
 * in as a user's would, through the collector's durable ingest; answers come from the store and
 * from the HTTP route. collector/test/series.sqlite.test.ts and series.influx.test.ts call it.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeriesBucket, SeriesStore } from '../../src/series/types.ts';

export interface SeriesHarness {
  app: FastifyInstance;
  store: SeriesStore;
  /** Resolves when everything submitted so far is readable from the store. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export const CONTRACT_KEY = 'series-contract-key-0123456789';
const MIN = 60_000;
const HOUR = 3_600_000;
// 2026-03-02T00:00:00Z: a Monday, a whole number of days, hours and minutes since the epoch
const T0 = Date.UTC(2026, 2, 2);
const A = 'CT-NMR.0001';
const B = 'CT-MS-0002';

async function submit(app: FastifyInstance, id: string, payload: object): Promise<string> {
  const r = await app.dayi.ingest.submit({
    topic: `dayi/v1/${id}/telemetry`,
    payload: Buffer.from(JSON.stringify(payload)),
    clientId: 'contract',
    username: 'contract',
    allowedInstruments: 'all',
    receivedAt: Date.now(),
  });
  return r.outcome;
}

function close(a: SeriesBucket[], b: Omit<SeriesBucket, 'mean'> & { mean: number }) {
  const x = a.find((p) => p.t === b.t);
  expect(x, `bucket ${new Date(b.t).toISOString()}`).toBeDefined();
  expect(x!.count).toBe(b.count);
  expect(x!.min).toBeCloseTo(b.min, 9);
  expect(x!.max).toBeCloseTo(b.max, 9);
  expect(x!.mean).toBeCloseTo(b.mean, 9);
}

export function seriesStoreContract(name: string, setup: () => Promise<SeriesHarness>): void {
  describe(`series store contract: ${name}`, () => {
    let h: SeriesHarness;
    beforeAll(async () => {
      h = await setup();
      const app = h.app;
      // A: power_w every 10 s from T0 for 2 h (value = minute index + 0.5 × second slot), current_a too
      let seq = 0;
      const sends: Promise<string>[] = [];
      for (let t = T0; t < T0 + 2 * HOUR; t += 10_000) {
        const minute = Math.floor((t - T0) / MIN);
        const slot = ((t - T0) % MIN) / 10_000;
        sends.push(
          submit(app, A, { ts: t, seq: seq++, metrics: { power_w: minute + slot * 0.5, current_a: 2 } }),
        );
      }
      // B: one sample a minute, power_w 1000, over the same 2 h; plus a metric named like a tag
      for (let i = 0; i < 120; i++) {
        sends.push(
          submit(app, B, { ts: T0 + i * MIN, seq: i, metrics: { power_w: 1000, org: 7 }, state: 'running' }),
        );
      }
      const outcomes = await Promise.all(sends);
      expect(outcomes.every((o) => o === 'accepted')).toBe(true);
      // duplicates (same seq) are one sample; two samples in one ms are two
      expect(await submit(app, B, { ts: T0, seq: 0, metrics: { power_w: 1000 } })).toBe('duplicate');
      expect(await submit(app, B, { ts: T0 + 3 * HOUR, seq: 500, metrics: { power_w: 10 } })).toBe(
        'accepted',
      );
      expect(await submit(app, B, { ts: T0 + 3 * HOUR, seq: 501, metrics: { power_w: 20 } })).toBe(
        'accepted',
      );
      // late and out of order: an hour before the rest, sent last
      expect(await submit(app, A, { ts: T0 - HOUR + 30_000, seq: 100_000, metrics: { power_w: 42 } })).toBe(
        'accepted',
      );
      expect(await submit(app, A, { ts: T0 - HOUR, seq: 100_001, metrics: { power_w: 40 } })).toBe(
        'accepted',
      );
      await h.settle();
    });
    afterAll(async () => {
      await h?.close();
    });

    it('answers mean, min, max and count per bucket, aligned to the epoch', async () => {
      const r = await h.store.series({
        instrumentId: A,
        metric: 'power_w',
        from: T0,
        to: T0 + 10 * MIN,
        everyMs: MIN,
      });
      expect(r.map((p) => p.t)).toEqual(Array.from({ length: 10 }, (_, i) => T0 + i * MIN));
      // minute 3: 3, 3.5, 4, 4.5, 5, 5.5
      close(r, { t: T0 + 3 * MIN, mean: 4.25, min: 3, max: 5.5, count: 6 });
      const hourly = await h.store.series({
        instrumentId: A,
        metric: 'power_w',
        from: T0,
        to: T0 + 2 * HOUR,
        everyMs: HOUR,
      });
      expect(hourly.map((p) => p.count)).toEqual([360, 360]);
      close(hourly, { t: T0 + HOUR, mean: 60 + 29.5 + 1.25, min: 60, max: 119 + 2.5, count: 360 });
    });

    it('includes from and excludes to; buckets start at multiples of every, not at from', async () => {
      const r = await h.store.series({
        instrumentId: A,
        metric: 'power_w',
        from: T0 + 30_000,
        to: T0 + 2 * MIN,
        everyMs: MIN,
      });
      close(r, { t: T0, mean: 2, min: 1.5, max: 2.5, count: 3 });
      close(r, { t: T0 + MIN, mean: 2.25, min: 1, max: 3.5, count: 6 });
      expect(r).toHaveLength(2);
    });

    it('keeps instruments and metrics apart, and leaves empty buckets out', async () => {
      const b = await h.store.series({
        instrumentId: B,
        metric: 'power_w',
        from: T0,
        to: T0 + 4 * HOUR,
        everyMs: HOUR,
      });
      expect(b.map((p) => [p.t, p.count, p.mean])).toEqual([
        [T0, 60, 1000],
        [T0 + HOUR, 60, 1000],
        [T0 + 3 * HOUR, 2, 15],
      ]);
      const current = await h.store.series({
        instrumentId: A,
        metric: 'current_a',
        from: T0,
        to: T0 + HOUR,
        everyMs: HOUR,
      });
      expect(current).toEqual([{ t: T0, mean: 2, min: 2, max: 2, count: 360 }]);
      expect(
        await h.store.series({
          instrumentId: A,
          metric: 'voltage_v',
          from: T0,
          to: T0 + HOUR,
          everyMs: HOUR,
        }),
      ).toEqual([]);
      expect(
        await h.store.series({
          instrumentId: 'CT-NONE-0009',
          metric: 'power_w',
          from: T0,
          to: T0 + HOUR,
          everyMs: HOUR,
        }),
      ).toEqual([]);
      expect(
        await h.store.series({
          instrumentId: A,
          metric: 'power_w',
          from: T0 + 5 * HOUR,
          to: T0 + 6 * HOUR,
          everyMs: MIN,
        }),
      ).toEqual([]);
    });

    it('serves a metric named like a tag, and late out-of-order samples in their buckets', async () => {
      const org = await h.store.series({
        instrumentId: B,
        metric: 'org',
        from: T0,
        to: T0 + HOUR,
        everyMs: HOUR,
      });
      expect(org).toEqual([{ t: T0, mean: 7, min: 7, max: 7, count: 60 }]);
      const late = await h.store.series({
        instrumentId: A,
        metric: 'power_w',
        from: T0 - HOUR,
        to: T0,
        everyMs: MIN,
      });
      expect(late).toEqual([{ t: T0 - HOUR, mean: 41, min: 40, max: 42, count: 2 }]);
    });

    it('answers the HTTP route with times in the collector zone, and names its source', async () => {
      const url = `/v1/instruments/${A}/series?metric=power_w&from=${new Date(T0).toISOString()}&to=${T0 + 2 * MIN}&every=1m`;
      const res = await h.app.inject({ url, headers: { authorization: `Bearer ${CONTRACT_KEY}` } });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { source: string; points: { t: string; count: number }[]; from: string };
      expect(body.source).toBe(h.store.kind);
      expect(body.from).toBe('2026-03-02T08:00:00.000+08:00');
      expect(body.points.map((p) => [p.t, p.count])).toEqual([
        ['2026-03-02T08:00:00.000+08:00', 6],
        ['2026-03-02T08:01:00.000+08:00', 6],
      ]);
      const bad = await h.app.inject({
        url: `/v1/instruments/${A}/series?every=1s&from=${T0}&to=${T0 + 30 * HOUR}`,
        headers: { authorization: `Bearer ${CONTRACT_KEY}` },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('invalid_query');
      const unknown = await h.app.inject({
        url: '/v1/instruments/NOPE-0001/series',
        headers: { authorization: `Bearer ${CONTRACT_KEY}` },
      });
      expect(unknown.statusCode).toBe(404);
      expect((await h.app.inject({ url: `/v1/instruments/${A}/series` })).statusCode).toBe(401);
    });
  });
}
