import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  getJson,
  type RunningCollector,
  startInProcess,
  tempDir,
  waitFor,
} from './helpers/e2e-collector.ts';
import { connect, DAY, HOUR, MINUTE, publishAll, telemetryEveryMinute } from './helpers/e2e-mqtt.ts';

interface Idle {
  items: { id: string; org: string | null; lastPoweredAt: string | null; idleDays: number }[];
  neverReported: { id: string }[];
}

const OLD = 'LAB-TEM-0001'; // last powered 120 days ago
const RECENT = 'LAB-XRD-0002'; // last powered 10 days ago
const SILENT = 'LAB-ICP-0003'; // registered, never reported

describe('/v1/idle?days=90 from MQTT evidence', () => {
  const tmp = tempDir();
  let collector: RunningCollector;
  // Half a day off whole days, so the whole-day counts cannot flip while the test runs.
  const now = Date.now();
  const oldRunEnd = now - 120 * DAY - 12 * HOUR;
  const recentRunEnd = now - 10 * DAY - 12 * HOUR;

  beforeAll(async () => {
    collector = await startInProcess(e2eConfig(tmp.dir, [OLD, RECENT, SILENT]));
    const client = await connect(collector.mqttPort, AGENT);
    try {
      // Two hours of running each, then off; the `off` sample is the last evidence.
      await publishAll(client, [
        ...telemetryEveryMinute(OLD, oldRunEnd - 2 * HOUR, oldRunEnd, () => 'running'),
        ...telemetryEveryMinute(RECENT, recentRunEnd - 2 * HOUR, recentRunEnd, () => 'running'),
      ]);
    } finally {
      await client.endAsync();
    }
  });
  afterAll(async () => {
    await collector?.close();
    tmp.remove();
  });

  it('lists the instrument last powered 120 days ago, not the one powered 10 days ago, and the silent one apart', async () => {
    const idle = await waitFor(
      'the 120-day-old instrument in /v1/idle',
      () => getJson<Idle>(collector.baseUrl, '/v1/idle?days=90'),
      (r) => r.items.some((i) => i.id === OLD),
    );
    expect(idle.items.map((i) => i.id)).toEqual([OLD]);
    const item = idle.items[0]!;
    expect(item.org).toBe('Test University');
    expect(item.idleDays).toBe(120);
    // The last powered sample was one minute before the `off` one; the time carries its offset.
    expect(item.lastPoweredAt).toMatch(/\+08:00$/);
    expect(Date.parse(item.lastPoweredAt!)).toBe(oldRunEnd - MINUTE);
    expect(idle.neverReported.map((i) => i.id)).toEqual([SILENT]);
  });

  it('a shorter threshold lists both; a longer one neither', async () => {
    const week = await getJson<Idle>(collector.baseUrl, '/v1/idle?days=7');
    expect(week.items.map((i) => [i.id, i.idleDays]).sort()).toEqual([
      [OLD, 120],
      [RECENT, 10],
    ]);
    const year = await getJson<Idle>(collector.baseUrl, '/v1/idle?days=365');
    expect(year.items).toEqual([]);
    expect(year.neverReported.map((i) => i.id)).toEqual([SILENT]);
  });
});
