import { afterEach, describe, expect, it } from 'vitest';
import { parseCollectorConfig } from '../src/config.ts';
import type { CollectorContext } from '../src/context.ts';
import { ensureDeriveSettings } from '../src/derive/io/settings.ts';
import { getUsage } from '../src/query/index.ts';
import { type DeriveDb, openDeriveDb, telemetryEvery } from './helpers/derive-db.ts';

let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('ensureDeriveSettings', () => {
  it('re-derives everything when offlineAfter or timezone changed since the data was derived', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, Date.parse('2026-11-10T00:00:00Z'));
    expect(ensureDeriveSettings(t.ctx)).toEqual({ previous: null, rederived: null });
    const seq = { next: 0 };
    // One message every 10 min for an hour: with 5 min of freshness, half the time is known.
    await t.sendAll(
      telemetryEvery('S-1', '2026-11-02T22:00:00Z', '2026-11-02T23:00:00Z', 600_000, 'running', seq),
    );
    expect(getUsage(t.ctx, 'S-1', '2026-11-02', '2026-11-02').runningHours).toBe(0.5);
    expect(ensureDeriveSettings(t.ctx).rederived).toBeNull();

    // Restart with other settings on the same store.
    const restarted: CollectorContext = {
      ...t.ctx,
      config: parseCollectorConfig({ ...t.ctx.config, timezone: 'Asia/Shanghai', offlineAfter: '10m' }),
    };
    expect(ensureDeriveSettings(restarted)).toMatchObject({
      previous: { timezone: 'UTC', offlineAfter: 300_000 },
      rederived: { instruments: 1, messages: 6 },
    });
    // Now every message holds until the next: 22:00-23:00 UTC, 06:00-07:00 on 2026-11-03 in Shanghai.
    expect(getUsage(restarted, 'S-1', '2026-11-02', '2026-11-03').days.map((d) => d.runningHours)).toEqual([
      0, 1,
    ]);
    expect(restarted.db.prepare('SELECT date FROM daily_usage').all()).toEqual([{ date: '2026-11-03' }]);
  });
});
