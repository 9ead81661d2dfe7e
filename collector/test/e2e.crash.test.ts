import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT, e2eConfig, getJson, startChild, stopChild, tempDir } from './helpers/e2e-collector.ts';
import {
  at,
  connect,
  DAY,
  daysAgo,
  HOUR,
  type Message,
  shuffled,
  telemetryEveryMinute,
} from './helpers/e2e-mqtt.ts';

/**
 * `kill -9` of `dayi collector` right after the last PUBACK: every acknowledged message is in the
 * ledger, so a restart on the same store answers exactly the same figures.
 */

const A = 'LAB-NMR-0001';
const B = 'LAB-MS-0002';
const OLD = 'LAB-TEM-0003';
const SILENT = 'LAB-ICP-0004';
const IDS = [A, B, OLD, SILENT];

describe('kill -9 after the last PUBACK, then restart on the same store', () => {
  const tmp = tempDir();
  const config = e2eConfig(tmp.dir, IDS);
  const children: ChildProcess[] = [];
  const d1 = daysAgo(3);
  const d2 = daysAgo(2);
  const now = Date.now();

  afterAll(async () => {
    for (const c of children) await stopChild(c, 'SIGKILL');
    tmp.remove();
  });

  async function answers(baseUrl: string) {
    const usage = (id: string) => getJson(baseUrl, `/v1/instruments/${id}/usage?from=${d1}&to=${d2}`);
    return {
      usageA: await usage(A),
      usageB: await usage(B),
      idle: await getJson(baseUrl, '/v1/idle?days=90'),
    };
  }

  /** Publishes QoS 1 with many in flight and SIGKILLs the collector in the very callback of the last PUBACK. */
  async function publishThenKill(mqttPort: number, child: ChildProcess, messages: Message[]): Promise<void> {
    const client = await connect(mqttPort, AGENT);
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, sig) => resolve(sig)),
    );
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      for (const m of messages) {
        client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          acked += 1;
          if (acked === messages.length) {
            process.kill(child.pid!, 'SIGKILL');
            resolve();
          }
        });
      }
    });
    expect(await exited).toBe('SIGKILL');
    client.end(true);
  }

  it('answers the same usage and idle figures after a restart', async () => {
    // Phase 1: history (an instrument idle for 120 days), then query and keep the answers.
    const first = await startChild(config, tmp.dir);
    children.push(first.child);
    const oldEnd = now - 120 * DAY - 12 * HOUR;
    const history = telemetryEveryMinute(OLD, oldEnd - HOUR, oldEnd, () => 'running');
    const dayOne = telemetryEveryMinute(A, at(d1, '09:00'), at(d1, '17:30'), (t) =>
      t >= at(d1, '12:00') && t < at(d1, '13:00') ? 'idle' : 'running',
    );
    // Phase 2, published right before the kill: a run of B across midnight, shuffled, and more of A.
    const night = telemetryEveryMinute(B, at(d1, '20:00'), at(d2, '02:15'), () => 'running');
    const dayTwo = telemetryEveryMinute(A, at(d2, '10:00'), at(d2, '11:00'), () => 'running', 10_000);
    await publishThenKill(first.mqttPort, first.child, [
      ...history,
      ...dayOne,
      ...shuffled([...night, ...dayTwo]),
    ]);

    // Restart on the same store: everything acknowledged must be there.
    const second = await startChild(config, tmp.dir);
    children.push(second.child);
    const afterCrash = await answers(second.baseUrl);
    expect(afterCrash.usageA).toMatchObject({
      poweredHours: 9.5,
      runningHours: 8.5,
      days: [
        { date: d1, poweredHours: 8.5, runningHours: 7.5 },
        { date: d2, poweredHours: 1, runningHours: 1 },
      ],
    });
    expect(afterCrash.usageB).toMatchObject({
      poweredHours: 6.25,
      runningHours: 6.25,
      days: [
        { date: d1, poweredHours: 4, runningHours: 4 },
        { date: d2, poweredHours: 2.25, runningHours: 2.25 },
      ],
    });
    expect(afterCrash.idle).toMatchObject({
      items: [{ id: OLD, idleDays: 120 }],
      neverReported: [{ id: SILENT }],
    });

    // Query, wait for the answers, kill -9 again, restart: the answers are exactly the same.
    const beforeKill = await answers(second.baseUrl);
    expect(beforeKill).toEqual(afterCrash);
    await stopChild(second.child, 'SIGKILL');
    const third = await startChild(config, tmp.dir);
    children.push(third.child);
    expect(await answers(third.baseUrl)).toEqual(beforeKill);
    await third.close();
    expect(third.child.exitCode).toBe(0);
  });
});
