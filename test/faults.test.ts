/**
 * The fault scenarios of `npm run faults` (faults/scenarios.ts) with small figures: seconds each.
 * No acknowledged message may be lost and none stored twice. The partition and disk-full scenarios
 * need root (network namespaces, tmpfs): CI runs as root; without it they fail and say so.
 */
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../faults/plans.ts';
import type { ScenarioResult } from '../faults/scenarios.ts';

const TIMEOUT = 180_000;

function expectNothingLost(r: ScenarioResult): void {
  expect(r.sent).toBeGreaterThan(0);
  expect(r.lost).toBe(0);
  expect(r.duplicates).toBe(0);
  expect(r.acknowledged).toBe(r.sent);
  expect(r.stored).toBe(r.acknowledged);
  expect(r.ok).toBe(true);
}

describe('faults (npm run faults -- --short)', () => {
  it(
    'kill -9 of the collector under load, then a restart on the same store: nothing acknowledged is lost',
    async () => {
      const r = await SCENARIOS.kill9!.short();
      expectNothingLost(r);
      expect((r.atKill as { sent: number }).sent).toBeGreaterThan(0);
      expect(r.sent).toBeGreaterThan((r.atKill as { sent: number }).sent);
    },
    TIMEOUT,
  );

  it(
    'a collector restart while every agent holds a session: all come back, nothing lost',
    async () => {
      const r = await SCENARIOS.reconnect!.short();
      expectNothingLost(r);
      expect(r.allBackMs).toBeTypeOf('number');
    },
    TIMEOUT,
  );

  it(
    '`dayi collector rederive` beside the running collector: ingest goes on during it',
    async () => {
      const r = await SCENARIOS.rederive!.short();
      expectNothingLost(r);
      expect((r.rederive as { output: string }).output).toMatch(/rederived every instrument/);
      expect(r.acknowledgedDuring).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it(
    'an agent cut off from the network (netns, veth), then back: its outbox replays with no seq gap',
    async () => {
      const r = await SCENARIOS.partition!.short();
      expectNothingLost(r);
      expect(r.seqGaps).toBe(0);
      expect(r.storedDuringCut).toBe(0);
      expect(r.outboxAtReconnect).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it(
    'the disk under the store fills: no PUBACK, /healthz and the log say why, and nothing is lost once space returns',
    async () => {
      const r = await SCENARIOS['disk-full']!.short();
      expectNothingLost(r);
      expect(r.healthzWhileFull).toMatchObject({
        status: 'error',
        store: 'error',
        storeError: { reason: expect.stringMatching(/disk full \(SQLITE_FULL\)/) },
      });
      expect(r.healthzAfter).toMatchObject({ status: 'ok', store: 'ok' });
      expect(r.logLine).toMatch(/store refuses writes/);
      expect(r.logResumed).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'InfluxDB stopped while data flows: every stored telemetry message is exactly one point afterwards',
    async () => {
      const r = await SCENARIOS['influx-down']!.short();
      expectNothingLost(r);
      expect(r.influxPoints).toBe(r.stored);
      expect(r.acknowledgedWhileInfluxDown).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});
