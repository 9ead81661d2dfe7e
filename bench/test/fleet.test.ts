/**
 * bench/fleet end to end at a small scale: real collector and bare Aedes, raw-socket load
 * processes; every offered message is acknowledged and the report carries the figures it promises.
 */
import { describe, expect, it } from 'vitest';
import { runFleetBench } from '../fleet.ts';
import { bucketOf, merge, quantile, upperMs } from '../fleet-hist.ts';

describe('fleet latency histogram', () => {
  it('puts a latency in a bucket whose upper bound is within 2 % above it, and merges exactly', () => {
    for (const ms of [0.05, 1, 17.3, 250, 9_999]) {
      expect(upperMs(bucketOf(ms))).toBeGreaterThanOrEqual(ms);
      expect(upperMs(bucketOf(ms))).toBeLessThanOrEqual(ms * 1.02 + 0.01);
    }
    const h = merge(new Map(), [
      [bucketOf(1), 98],
      [bucketOf(500), 2],
    ]);
    expect(quantile(h, 0.5)).toBeLessThan(1.1);
    expect(quantile(h, 0.99)).toBeGreaterThan(499);
    expect(quantile(new Map(), 0.5)).toBeNull();
  });
});

describe('bench fleet', () => {
  it('connects every session, and every offered message is acknowledged by collector and Aedes', async () => {
    const r = await runFleetBench({
      sessions: 40,
      rates: [40],
      durationS: 3,
      intervalS: 1,
      procs: 2,
      targets: ['collector', 'aedes'],
      drainS: 20,
      window: 16,
      env: {},
      nodeArgs: [],
      probeEveryMs: 500,
    });
    for (const name of ['collector', 'aedes'] as const) {
      const t = r.results[name]!;
      expect(t.connectStorm).toMatchObject({ sessions: 40, connected: 40, failed: 0 });
      const [phase] = t.phases;
      expect(phase!.totals.offered).toBe(120);
      expect(phase!.totals.unacked).toBe(0);
      expect(phase!.puback.n).toBe(120);
      expect(phase!.puback.p99).not.toBeNull();
    }
    const api = r.results.collector!.phases[0]!.apiVisibleMs!;
    // the API showed a published state change (a probe not seen within 30 s counts as failed)
    expect(api.n - api.failed).toBeGreaterThan(0);
    expect(api.p50).not.toBeNull();
    expect(r.ratio).toHaveProperty('cpuPerMessageCollectorVsAedes@40');
  });
});
