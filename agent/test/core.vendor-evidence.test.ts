/**
 * A state the instrument reports itself is evidence only while its input is heard. With the
 * vendor input's link down and a power meter still read, telemetry goes on with the metrics and
 * without `state` (the collector then classifies the metrics, or derives `unknown`), and the state
 * is back as soon as the input is. Checked from Mosquitto's side with mosquitto_sub.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, parseTopic, type Telemetry } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.ts';
import { startAgent } from '../src/runtime.ts';
import { mosquittoSub, sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-vendor-evidence-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

it('telemetry carries a vendor state (signal vendor, or a vendor fault) only while the input reporting it is heard', async () => {
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  // The console reports its state (running, or a fault) for 2 s, then does not answer for 2 s;
  // the power meter answers all along.
  const config = parseAgentConfig(`
agent: { id: lab3-pc7 }
mqtt: { url: "${broker.url}", reconnect: { min: 200ms, max: 1s } }
outbox: { dir: "${join(root, 'outbox')}", fsync: false }
instruments:
  - id: NMR-V
    publishEvery: 300ms
    inputs:
      - type: simulated
        name: console
        pattern: steps
        reportState: true
        every: 100ms
        steps: [{ watts: 900, for: 2s }, { watts: 0, for: 2s, link: false }]
      - { type: simulated, name: meter, pattern: constant, level: idle, every: 100ms }
    state: { signal: vendor }
  - id: PUMP-F
    publishEvery: 300ms
    inputs:
      - type: simulated
        name: status word
        pattern: steps
        every: 100ms
        steps: [{ watts: 900, for: 2s, state: fault }, { watts: 0, for: 2s, link: false }]
      - { type: simulated, name: meter, pattern: constant, level: running, every: 100ms }
    state: { signal: power_w, thresholds: { standby: 5, idle: 80, running: 400 }, minDwell: 0s, window: 1s }
`);
  const sub = startSubscriber({ port: broker.port, topics: ['dayi/v1/+/telemetry'], args: ['-q', '1'] });
  cleanups.push(() => sub.stop());
  await sleep(300);
  const agent = await startAgent(config, { log: pino({ level: 'silent' }) });
  cleanups.push(() => agent.stop());

  const telemetry = (id: string): Telemetry[] =>
    sub.messages().flatMap((m) => {
      const t = parseTopic(m.topic);
      const d = t && decodePayload('telemetry', m.payload);
      if (!t || !d?.ok) throw new Error(`undecodable ${m.topic}: ${m.payload}`);
      return t.instrumentId === id ? [d.payload] : [];
    });

  for (const [id, state] of [
    ['NMR-V', 'running'],
    ['PUMP-F', 'fault'],
  ] as const) {
    // The first period may straddle the start; from the first message with the state on:
    // state, then (link down) metrics without state, then the state again.
    const up = await waitFor(`${id}: telemetry with state ${state}`, () => {
      const i = telemetry(id).findIndex((t) => t.state === state);
      return i >= 0 ? i : undefined;
    });
    const down = await waitFor(`${id}: telemetry without state while the vendor input is down`, () => {
      const i = telemetry(id).findIndex((t, j) => j > up && t.state === undefined);
      return i >= 0 ? i : undefined;
    });
    const lost = telemetry(id)[down]!;
    expect(lost.metrics.power_w, `${id}: the meter's power still goes out`).toBeGreaterThan(0);
    await waitFor(`${id}: state ${state} again once the vendor input answers`, () =>
      telemetry(id).some((t, j) => j > down && t.state === state) ? true : undefined,
    );
    // Never another state in its place: without its source the state is left out, not invented.
    expect(telemetry(id).filter((t) => t.state !== undefined && t.state !== state)).toEqual([]);
  }

  // The retained state is left as it was (its ts tells its age): no new state is invented.
  const [retained] = await mosquittoSub({ port: broker.port, topics: ['dayi/v1/NMR-V/state'], count: 1 });
  expect(retained?.retained).toBe(true);
  expect(JSON.parse(retained!.payload)).toMatchObject({ state: 'running', source: 'console' });
});
