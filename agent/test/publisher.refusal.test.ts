/**
 * An agent whose messages the collector refuses learns it, with the reason: in its log, in its
 * counters (the status file) and in `dayi agent status`; messages refused for a reason that can
 * be fixed stay in its outbox and reach the collector once it is fixed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  type RunningCollector,
  startInProcess,
  tempDir,
} from '../../collector/test/helpers/e2e-collector.ts';
import { agentCommand } from '../src/cli.ts';
import { loadAgentConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { Outbox } from '../src/outbox.ts';
import { type RunningAgent, startAgent } from '../src/runtime.ts';
import { readStatusFile } from '../src/status-file.ts';
import { sleep } from './helpers/mosquitto.ts';

const tmp = tempDir();
let collector: (RunningCollector & { app: Awaited<ReturnType<typeof startInProcess>>['app'] }) | undefined;
let agent: RunningAgent | undefined;
afterAll(async () => {
  await agent?.stop();
  await collector?.close();
  tmp.remove();
});

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await agentCommand(argv, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
  });
  return { code, out, err };
}

describe('an agent whose messages the collector refuses', () => {
  it('logs the reason, counts it, shows it in `dayi agent status`, and keeps what can be fixed until it is', async () => {
    const MINE = 'ZJ-NMR-0001';
    const UNREGISTERED = 'ZJ-NMR-0002';
    const dbDir = join(tmp.dir, 'collector');
    // The collector lets this agent publish for MINE only.
    collector = await startInProcess(e2eConfig(tmp.dir, [MINE]));
    const port = collector.mqttPort;
    const outboxDir = join(tmp.dir, 'outbox');
    const file = join(tmp.dir, 'agent.yaml');
    writeFileSync(
      file,
      `agent: { id: lab3-pc7 }
mqtt: { url: "mqtt://127.0.0.1:${port}", username: ${AGENT.username}, password: "${AGENT.password}",
        reconnect: { min: 100ms, max: 500ms } }
outbox: { dir: "${outboxDir}", fsync: false }
instruments:
  - { id: ${MINE}, publishEvery: 200ms, inputs: [ { type: simulated, pattern: constant, every: 100ms } ] }
  - { id: ${UNREGISTERED}, publishEvery: 200ms, inputs: [ { type: simulated, pattern: constant, every: 100ms } ] }
`,
    );
    const config = loadAgentConfig(file);
    // A message the collector cannot accept whatever its configuration: a metric name it refuses.
    const box = Outbox.open(join(outboxDir, MINE), { maxBytes: 1 << 20, fsync: false });
    box.append('telemetry', { ts: Date.now(), metrics: { 'Power W': 1 } });
    box.close();

    const lines: string[] = [];
    agent = await startAgent(config, {
      log: createLogger({
        level: 'info',
        name: 'dayi-agent',
        write: (l) => {
          lines.push(l);
        },
      }),
    });
    const [mine, unregistered] = agent.instruments as [
      (typeof agent.instruments)[number],
      (typeof agent.instruments)[number],
    ];

    // Refused for a reason the collector's configuration can lift: kept, sending paused.
    await waitFor('a held refusal', () => (unregistered.session.state().held ? true : undefined));
    expect(unregistered.session.state().refused).toMatchObject({
      kept: expect.any(Number),
      dropped: 0,
      byClass: { not_authorized: expect.any(Number) },
      last: {
        topic: `dayi/v1/${UNREGISTERED}/telemetry`,
        class: 'not_authorized',
        reason: `topic: agent "lab3-pc7" is not registered for instrument ${UNREGISTERED}`,
        keep: true,
      },
    });
    await waitFor('more messages waiting', () =>
      unregistered.outbox.stats().pending >= 3 ? true : undefined,
    );
    expect(unregistered.outbox.pending()[0]!.payload.seq).toBe(1);
    const refusedLine = lines.find(
      (l) => l.includes('"msg":"collector refused telemetry seq') && l.includes('kept'),
    );
    expect(refusedLine).toBeDefined();
    expect(JSON.parse(refusedLine!)).toMatchObject({
      level: 40,
      instrumentId: UNREGISTERED,
      class: 'not_authorized',
      msg: expect.stringMatching(
        /not registered for instrument ZJ-NMR-0002; kept in the outbox, sending again in 30 s$/,
      ),
    });

    // Refused for what it is: dropped, and said so once.
    await waitFor('the invalid message dropped', () =>
      mine.session.state().refused.dropped === 1 ? true : undefined,
    );
    expect(mine.session.state().refused.last).toMatchObject({
      class: 'invalid_payload',
      seq: 1,
      keep: false,
    });
    expect(lines.some((l) => l.includes('dropped (the collector keeps a copy with the reason)'))).toBe(true);
    const stored = (id: string) =>
      collector!.app.dayi.ctx.db
        .prepare(
          "SELECT COUNT(*) AS n, MIN(seq) AS first FROM messages WHERE instrument_id = ? AND kind = 'telemetry'",
        )
        .get(id) as { n: number; first: number | null };
    await waitFor('the other messages accepted', () => (stored(MINE).n > 0 ? true : undefined));
    expect(stored(MINE).first).toBe(2);
    expect(stored(UNREGISTERED).n).toBe(0);

    // The technician at the instrument PC sees it, with what to do.
    await waitFor('the status file', () =>
      readStatusFile(join(outboxDir, UNREGISTERED))?.session.held ? true : undefined,
    );
    const status = await run(['status', '-c', file]);
    expect(status.code).toBe(1);
    expect(status.out).toMatch(
      /^dayi agent lab3-pc7: running \(pid \d+\), broker mqtt:\/\/127\.0\.0\.1:\d+\n/,
    );
    expect(status.out).toContain(`${UNREGISTERED}\n  connection  connected since `);
    expect(status.out).toMatch(/ {2}outbox {6}\d+ messages waiting/);
    expect(status.out).toContain(
      `not_authorized: topic: agent "lab3-pc7" is not registered for instrument ${UNREGISTERED}`,
    );
    expect(status.out).toContain('sending paused: again at ');
    expect(status.out).toContain(
      `add ${UNREGISTERED} to that agent's instruments in the collector's configuration`,
    );
    const json = JSON.parse((await run(['status', '-c', file, '--json'])).out) as {
      instruments: { id: string; agent: string; held: unknown; refused: { last: { class: string } } }[];
    };
    expect(json.instruments.map((i) => [i.id, i.agent, i.held !== null])).toEqual([
      [MINE, 'running', false],
      [UNREGISTERED, 'running', true],
    ]);

    // The administrator registers the instrument for this agent and restarts the collector on the
    // same port: the agent reconnects, sends what it kept, and nothing is lost.
    await collector.close();
    collector = await startInProcess({
      ...e2eConfig(dbDir, [MINE, UNREGISTERED]),
      store: { sqlite: join(tmp.dir, 'dayi.sqlite'), sync: 'full' },
      mqtt: { host: '127.0.0.1', port },
    });
    await waitFor('the kept messages delivered', () =>
      !unregistered.session.state().held && stored(UNREGISTERED).n > 0 ? true : undefined,
    );
    expect(stored(UNREGISTERED).first).toBe(1);
    await waitFor('the status file to show it', () =>
      readStatusFile(join(outboxDir, UNREGISTERED))?.session.held === null ? true : undefined,
    );
    const after = await run(['status', '-c', file]);
    expect(after.out).toContain(`${UNREGISTERED}\n  connection  connected since `);
    expect(after.out).not.toContain('sending paused');
    await agent.stop();
    const stopped = await run(['status', '-c', file]);
    expect(stopped.code).toBe(1);
    expect(stopped.out).toMatch(/^dayi agent lab3-pc7: not running/);
  });
});
