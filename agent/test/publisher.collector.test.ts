/** The agent against the dayi collector's own broker: authenticated, accepted, visible over the API. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT,
  e2eConfig,
  PLATFORM_KEY,
  type RunningCollector,
  startInProcess,
  tempDir,
} from '../../collector/test/helpers/e2e-collector.ts';
import { parseAgentConfig } from '../src/config.ts';
import { type RunningAgent, startAgent } from '../src/runtime.ts';
import { sleep } from './helpers/mosquitto.ts';

const tmp = tempDir();
let collector: RunningCollector | undefined;
let agent: RunningAgent | undefined;
afterAll(async () => {
  await agent?.stop();
  await collector?.close();
  tmp.remove();
});

interface InstrumentView {
  id: string;
  state: string | null;
  online: boolean;
  lastSeen: string | null;
}

async function instrument(id: string): Promise<InstrumentView> {
  const res = await fetch(`${collector!.baseUrl}/v1/instruments/${id}`, {
    headers: { authorization: `Bearer ${PLATFORM_KEY}` },
  });
  if (res.status !== 200) throw new Error(`GET /v1/instruments/${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as InstrumentView;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what} (${String(last)})`);
    await sleep(200);
  }
}

describe('agent with the dayi collector', () => {
  it("the collector's broker accepts the agent, and the API shows its state and online status", async () => {
    const id = 'ZJ-NMR-0001';
    collector = await startInProcess(e2eConfig(tmp.dir, [id]));
    const cfg = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "${collector.mqttUrl}", username: ${AGENT.username}, password: "${AGENT.password}" }
outbox: { dir: "${join(tmp.dir, 'outbox')}", fsync: false }
instruments:
  - id: ${id}
    publishEvery: 500ms
    inputs: [ { type: simulated, pattern: steps, every: 100ms, noise: 0,
                steps: [ { watts: 900, for: 3s }, { watts: 100, for: 3s } ] } ]
    state: { signal: power_w, window: 300ms, minDwell: 300ms, thresholds: { standby: 5, idle: 80, running: 400 } }
`);
    agent = await startAgent(cfg, { log: pino({ level: 'silent' }) });
    const running = await waitFor('running and online in the API', async () => {
      const v = await instrument(id);
      return v.state === 'running' && v.online ? v : undefined;
    });
    expect(running.lastSeen).not.toBeNull();
    await waitFor('idle in the API', async () =>
      (await instrument(id)).state === 'idle' ? true : undefined,
    );
    // Everything the agent queued was acknowledged by the collector (PUBACK after its ledger write).
    await waitFor('an empty outbox', async () =>
      agent!.instruments[0]!.outbox.stats().pending === 0 ? true : undefined,
    );
    await agent.stop();
    await waitFor('offline after a graceful stop', async () =>
      (await instrument(id)).online ? undefined : true,
    );
  });

  it('kill -9 of the agent: the collector gets the will and shows the instrument offline', async () => {
    const id = 'ZJ-NMR-0001';
    const file = join(tmp.dir, 'will.yaml');
    writeFileSync(
      file,
      `agent: { id: lab3-pc7 }
mqtt: { url: "${collector!.mqttUrl}", username: ${AGENT.username}, password: "${AGENT.password}" }
outbox: { dir: "${join(tmp.dir, 'will-outbox')}", fsync: false }
instruments:
  - { id: ${id}, publishEvery: 500ms, inputs: [ { type: simulated, pattern: constant } ] }
`,
    );
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'helpers/publisher-agent-child.ts'), file],
      {
        stdio: 'ignore',
      },
    );
    try {
      await waitFor('online in the API', async () => ((await instrument(id)).online ? true : undefined));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await waitFor('offline after kill -9', async () => ((await instrument(id)).online ? undefined : true));
  });
});
