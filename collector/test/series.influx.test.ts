import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';
import { CONTRACT_KEY, seriesStoreContract } from './contract/series-store.ts';
import { startInfluxd } from './helpers/influxd.ts';

seriesStoreContract('InfluxDB (real influxd)', async () => {
  const influxd = await startInfluxd();
  const dir = mkdtempSync(join(tmpdir(), 'dayi-series-'));
  const app = await build(
    {
      mqtt: { port: 0 },
      store: { sqlite: join(dir, 'dayi.sqlite') },
      influx: { url: influxd.url, database: 'contract', flushEvery: '100ms' },
      apiKeys: [{ name: 'p', key: CONTRACT_KEY, role: 'platform' }],
    },
    { logger: false },
  );
  return {
    app,
    store: app.dayi.ctx.exports!.series,
    settle: () => app.dayi.ctx.exports!.influx!.flush(),
    close: async () => {
      await app.close();
      await influxd.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('InfluxDB series store', () => {
  it('answers 503 series_unavailable while InfluxDB cannot be reached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-series-'));
    const app = await build(
      {
        mqtt: { port: 0 },
        store: { sqlite: join(dir, 'dayi.sqlite') },
        influx: { url: 'http://127.0.0.1:9', database: 'x', timeout: '2s' },
        apiKeys: [{ name: 'p', key: CONTRACT_KEY, role: 'platform' }],
        instruments: [{ id: 'DOWN-0001' }],
      },
      { logger: false },
    );
    try {
      const res = await app.inject({
        url: '/v1/instruments/DOWN-0001/series',
        headers: { authorization: `Bearer ${CONTRACT_KEY}` },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('series_unavailable');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
