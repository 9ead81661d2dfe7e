import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import type { SqliteSeries } from '../src/series/sqlite.ts';
import { CONTRACT_KEY, seriesStoreContract } from './contract/series-store.ts';

seriesStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-series-'));
  const app = await build(
    {
      mqtt: { port: 0 },
      store: { sqlite: join(dir, 'dayi.sqlite') },
      apiKeys: [{ name: 'p', key: CONTRACT_KEY, role: 'platform' }],
    },
    { logger: false },
  );
  return {
    app,
    store: app.dayi.ctx.exports!.series,
    settle: async () => {},
    close: async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite series store', () => {
  it('keeps raw telemetry for series.retention, and never prunes the ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-series-'));
    const now = Date.UTC(2026, 5, 1);
    const app = await build(
      { mqtt: { port: 0 }, store: { sqlite: join(dir, 'dayi.sqlite') }, series: { retention: '2d' } },
      { logger: false, now: () => now },
    );
    try {
      for (const [seq, age] of [
        [1, 3 * 86_400_000],
        [2, 86_400_000],
      ] as const) {
        await app.dayi.ingest.submit({
          topic: 'dayi/v1/RT-0001/telemetry',
          payload: Buffer.from(JSON.stringify({ ts: now - age, seq, metrics: { power_w: seq } })),
          clientId: 'c',
          username: 'u',
          allowedInstruments: 'all',
          receivedAt: now,
        });
      }
      const store = app.dayi.ctx.exports!.series as SqliteSeries;
      const q = {
        instrumentId: 'RT-0001',
        metric: 'power_w',
        from: now - 10 * 86_400_000,
        to: now,
        everyMs: 86_400_000,
      };
      expect((await store.series(q)).map((p) => p.mean)).toEqual([1, 2]);
      expect(store.prune()).toBe(1);
      expect((await store.series(q)).map((p) => p.mean)).toEqual([2]);
      const ledger = app.dayi.ctx.db
        .prepare("SELECT COUNT(*) AS n FROM messages WHERE kind = 'telemetry'")
        .get() as { n: number };
      expect(ledger.n).toBe(2);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
