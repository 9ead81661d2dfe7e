/**
 * The real agent into the real collector: `startAgent()` with a simulated instrument whose power
 * steps off → running → idle, publishing over MQTT to the collector's embedded broker, and the
 * figures a user reads over HTTP. The agent also carries an instrument the collector does not
 * authorize for its credentials: that one is refused, the authorized one goes on (fail one, not all).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAgentConfig } from '@dayi/agent/config.ts';
import { type RunningAgent, startAgent } from '@dayi/agent/runtime.ts';
import { addDays, dateOf } from '@dayi/collector/derive/pure/calendar.ts';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMetrics, metricSum } from '../collector/test/helpers/e2e-agent-metrics.ts';
import {
  AGENT,
  e2eConfig,
  getJson,
  type RunningCollector,
  startInProcess,
  tempDir,
  waitFor,
} from '../collector/test/helpers/e2e-collector.ts';

const MINE = 'LAB-XRD-0001';
/** Registered in the collector, but to another agent: this agent may not publish for it. */
const THEIRS = 'OTHER-0001';
const TZ = 'Asia/Shanghai';

interface Instrument {
  id: string;
  state: string;
  online: boolean;
  lastSeen: string | null;
  lastPoweredAt: string | null;
  lastRunningAt: string | null;
  agent: { id: string; version: string | null; inputs: { name: string; connected: boolean }[] } | null;
}

interface Usage {
  poweredHours: number;
  runningHours: number;
  coverage: number;
  days: { date: string; poweredHours: number; runningHours: number; coverage: number }[];
}

describe('the dayi agent publishing to the dayi collector', () => {
  const tmp = tempDir();
  let collector: RunningCollector & { app: Awaited<ReturnType<typeof startInProcess>>['app'] };
  let agent: RunningAgent | undefined;
  const outbox = join(tmp.dir, 'agent-outbox');

  const agentConfig = () =>
    parseAgentConfig(
      `
agent: { id: lab3-e2e }
mqtt:
  url: "${collector.mqttUrl}"
  username: ${AGENT.username}
  password: "\${AGENT_PW}"
  reconnect: { min: 200ms, max: 1s }
outbox: { dir: "${outbox}", maxBytes: 4MiB, fsync: false }
instruments:
  - id: ${MINE}
    publishEvery: 1s
    inputs:
      - type: simulated
        name: xrd plug
        pattern: steps
        every: 200ms
        steps: [ { watts: 0, for: 3s }, { watts: 900, for: 12s }, { watts: 150, for: 5s } ]
    state: { signal: power_w, window: 400ms, minDwell: 500ms, thresholds: { standby: 5, idle: 80, running: 400 } }
  - id: ${THEIRS}
    publishEvery: 1s
    inputs: [ { type: simulated, pattern: constant, level: running, every: 200ms } ]
    state: { signal: power_w, window: 400ms, minDwell: 500ms, thresholds: { standby: 5, idle: 80, running: 400 } }
`,
      { env: { AGENT_PW: AGENT.password } },
    );

  const instrument = (id: string) => getJson<Instrument>(collector.baseUrl, `/v1/instruments/${id}`);
  const usage = (id: string) => {
    const today = dateOf(Date.now(), TZ);
    // Yesterday too: a run that starts just before midnight in Shanghai still counts.
    return getJson<Usage>(
      collector.baseUrl,
      `/v1/instruments/${id}/usage?from=${addDays(today, -1)}&to=${today}`,
    );
  };
  const telemetrySeqs = (id: string): number[] =>
    (
      collector.app.dayi.ctx.db
        .prepare(`SELECT seq FROM messages WHERE instrument_id = ? AND kind = 'telemetry' ORDER BY seq`)
        .all(id) as { seq: number }[]
    ).map((r) => r.seq);
  const rejectedTopics = (): string[] =>
    (collector.app.dayi.ctx.db.prepare('SELECT topic FROM rejected').all() as { topic: string }[]).map(
      (r) => r.topic,
    );

  beforeAll(async () => {
    collector = await startInProcess(
      e2eConfig(tmp.dir, [MINE], {
        instruments: [
          { id: MINE, name: 'X-ray diffractometer', org: 'Test University' },
          { id: THEIRS, name: 'someone else’s', org: 'Other University' },
        ],
      }),
    );
    agent = await startAgent(agentConfig(), { log: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await agent?.stop();
    await collector?.close();
    tmp.remove();
  });

  it('shows the instrument online, following the simulated steps running → idle → off', async () => {
    const running = await waitFor(
      `${MINE} running and online in GET /v1/instruments/${MINE}`,
      () => instrument(MINE),
      (v) => v.state === 'running' && v.online,
      30_000,
    );
    expect(running.lastPoweredAt, 'lastPoweredAt once the instrument ran').not.toBeNull();
    expect(running.lastRunningAt).not.toBeNull();
    // The agent's retained status was accepted under its own id: the API names the agent and its input.
    expect(running.agent?.id).toBe('lab3-e2e');
    expect(running.agent?.inputs).toEqual([expect.objectContaining({ name: 'xrd plug', connected: true })]);
    await waitFor(
      `${MINE} idle (150 W)`,
      () => instrument(MINE),
      (v) => v.state === 'idle' && v.online,
      30_000,
    );
    await waitFor(
      `${MINE} off (0 W)`,
      () => instrument(MINE),
      (v) => v.state === 'off' && v.online,
      30_000,
    );

    const metrics = await fetchMetrics(collector.baseUrl);
    const accepted = (kind: string) =>
      metricSum(metrics, 'dayi_mqtt_messages_total', { kind, outcome: 'accepted' });
    expect(accepted('state'), 'retained state messages accepted').toBeGreaterThanOrEqual(3);
    expect(accepted('status'), 'retained status accepted').toBeGreaterThanOrEqual(1);
    expect(accepted('telemetry')).toBeGreaterThan(0);
  }, 120_000);

  it('GET /usage for today has powered and running hours and coverage', async () => {
    // Hours are rounded to 0.01 h (36 s): running must add up to 18 s over the 12 s running steps.
    const u = await waitFor(
      `${MINE} usage with runningHours > 0`,
      () => usage(MINE),
      (x) => x.runningHours > 0,
      90_000,
    );
    expect(u.poweredHours).toBeGreaterThan(0);
    expect(u.poweredHours).toBeGreaterThanOrEqual(u.runningHours);
    expect(u.coverage).toBeGreaterThan(0);
    expect(u.days.at(-1)?.date).toBe(dateOf(Date.now(), TZ));
  }, 120_000);

  it('refuses the instrument the collector does not authorize for this agent, and nothing of it shows', async () => {
    await waitFor(
      `the agent's publishes for ${THEIRS} counted as not authorized in /metrics`,
      () => fetchMetrics(collector.baseUrl),
      (m) =>
        metricSum(m, 'dayi_mqtt_messages_total', { kind: 'telemetry', outcome: 'unauthorized' }) > 0 &&
        metricSum(m, 'dayi_mqtt_rejected_total', { reason: 'not_authorized' }) > 0,
    );
    const topics = rejectedTopics();
    expect(topics).toContain(`dayi/v1/${THEIRS}/telemetry`);
    expect(topics).toContain(`dayi/v1/${THEIRS}/state`);
    expect(
      topics.filter((t) => t.startsWith(`dayi/v1/${MINE}/`)),
      'nothing of the authorized one',
    ).toEqual([]);
    const theirs = await instrument(THEIRS);
    expect(theirs).toMatchObject({ online: false, lastSeen: null, lastPoweredAt: null, agent: null });
    expect(await usage(THEIRS)).toMatchObject({ poweredHours: 0, runningHours: 0, coverage: 0 });
    expect(telemetrySeqs(THEIRS)).toEqual([]);
    // Meanwhile the authorized instrument goes on.
    const before = telemetrySeqs(MINE).length;
    await waitFor(
      `more telemetry of ${MINE}`,
      async () => telemetrySeqs(MINE).length,
      (n) => n > before,
    );
  }, 60_000);

  it('a graceful stop shows the instrument offline (the status the agent publishes as it leaves)', async () => {
    await agent!.stop();
    agent = undefined;
    const off = await waitFor(
      `${MINE} online: false after agent.stop()`,
      () => instrument(MINE),
      (v) => !v.online,
    );
    expect(off.lastSeen).not.toBeNull();
  }, 60_000);

  it('a second run on the same outbox resumes seq: nothing duplicate, nothing rejected', async () => {
    const first = telemetrySeqs(MINE);
    expect(first.length).toBeGreaterThan(0);
    const lastOfFirstRun = first.at(-1)!;
    agent = await startAgent(agentConfig(), { log: pino({ level: 'silent' }) });
    await waitFor(
      `${MINE} online again`,
      () => instrument(MINE),
      (v) => v.online,
      30_000,
    );
    await waitFor(
      `telemetry of ${MINE} from the second run (seq above ${lastOfFirstRun})`,
      async () => telemetrySeqs(MINE),
      (s) => s.filter((x) => x > lastOfFirstRun).length >= 3,
      30_000,
    );
    await agent.stop();
    agent = undefined;
    await waitFor(
      `${MINE} offline after the second run`,
      () => instrument(MINE),
      (v) => !v.online,
    );

    const seqs = telemetrySeqs(MINE);
    // One sequence over both runs: the second run took up where the first stopped, with no gap.
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    const metrics = await fetchMetrics(collector.baseUrl);
    expect(metricSum(metrics, 'dayi_mqtt_messages_total', { outcome: 'duplicate' }), 'duplicates').toBe(0);
    expect(metricSum(metrics, 'dayi_mqtt_messages_total', { outcome: 'rejected' }), 'rejected').toBe(0);
    expect(rejectedTopics().filter((t) => !t.startsWith(`dayi/v1/${THEIRS}/`))).toEqual([]);
    // one outbox, one epoch: no restart
    expect(collector.app.dayi.ctx.db.prepare('SELECT COUNT(*) AS n FROM seq_restarts').get()).toEqual({
      n: 0,
    });
  }, 90_000);

  it('an agent whose outbox folder is lost starts seq again: nothing of it is dropped, the restart is recorded', async () => {
    const before = telemetrySeqs(MINE);
    rmSync(outbox, { recursive: true, force: true }); // a reinstalled PC
    agent = await startAgent(agentConfig(), { log: pino({ level: 'silent' }) });
    await waitFor(
      `telemetry of ${MINE} from the new outbox (seq 1, 2, 3 again)`,
      async () => telemetrySeqs(MINE),
      (s) => s.length >= before.length + 3,
      30_000,
    );
    await agent.stop();
    agent = undefined;
    const seqs = telemetrySeqs(MINE);
    // the old messages are all there, and the new run's 1, 2, 3… beside them
    expect(seqs.filter((q) => q <= 3).length).toBeGreaterThanOrEqual(before.filter((q) => q <= 3).length + 3);
    const restarts = collector.app.dayi.ctx.db
      .prepare(
        `SELECT kind, seq, cause, epoch IS NOT NULL AND previous_epoch IS NOT NULL AND epoch <> previous_epoch AS new_epoch,
           gap_from IS NOT NULL AS has_gap_from, username FROM seq_restarts WHERE instrument_id = ?`,
      )
      .all(MINE);
    expect(restarts).toContainEqual({
      kind: 'telemetry',
      seq: 1,
      cause: 'epoch_changed',
      new_epoch: 1,
      has_gap_from: 1,
      username: AGENT.username,
    });
    const metrics = await fetchMetrics(collector.baseUrl);
    expect(metricSum(metrics, 'dayi_seq_restarts_total', { kind: 'telemetry' })).toBe(1);
    expect(metricSum(metrics, 'dayi_mqtt_messages_total', { outcome: 'duplicate' }), 'duplicates').toBe(0);
  }, 90_000);
});
