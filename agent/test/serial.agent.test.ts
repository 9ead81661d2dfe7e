/**
 * End to end: the serial input's own sample.yaml, pointed at a socat pty pair and a real Mosquitto,
 * runs in the agent. Sensor lines written to the pty become telemetry with the sample's metrics and
 * states from its current_a thresholds, checked from the broker's side with mosquitto_sub; the
 * sensor being unplugged shows in the retained status and is survived.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, parseTopic } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { parseAgentConfig } from '../src/config.ts';
import { startAgent } from '../src/runtime.ts';
import { sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';
import { startPtyPair } from './helpers/serial-pty.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-serial-agent-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const USER = { username: 'lab3-pc7', password: 'pw-for-serial-tests' };
const SAMPLE = join(import.meta.dirname, '../src/inputs/serial/sample.yaml');

async function waitFor<T>(
  what: string,
  fn: () => T | undefined,
  ms = 20_000,
  seen?: () => unknown,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${seen ? `; seen: ${JSON.stringify(seen())}` : ''}`,
      );
    await sleep(100);
  }
}

describe('agent with a serial sensor (sample.yaml) and Mosquitto', () => {
  it('publishes the sensor’s metrics and states, and survives the sensor being unplugged', async () => {
    const broker = await startMosquitto({ users: [USER] });
    cleanups.push(() => broker.close());
    const pty = await startPtyPair();
    cleanups.push(() => pty.close());

    // The sample as shipped, with only the machine-specific parts changed and faster timings.
    const doc = parseDocument(readFileSync(SAMPLE, 'utf8'));
    doc.setIn(['mqtt', 'url'], broker.url);
    doc.setIn(['outbox', 'dir'], join(root, 'outbox'));
    doc.setIn(['instruments', 0, 'publishEvery'], '500ms');
    doc.setIn(['instruments', 0, 'inputs', 0, 'path'], pty.port);
    doc.setIn(['instruments', 0, 'inputs', 0, 'every'], '200ms');
    doc.setIn(['instruments', 0, 'state', 'window'], '300ms');
    doc.setIn(['instruments', 0, 'state', 'minDwell'], '300ms');
    const config = parseAgentConfig(doc.toString(), { env: { DAYI_AGENT_PW: USER.password } });

    const sub = startSubscriber({
      port: broker.port,
      topics: ['dayi/v1/ZJ-NMR-0001/#'],
      ...USER,
      args: ['-q', '1'],
    });
    cleanups.push(() => sub.stop());
    await sleep(300);
    const agent = await startAgent(config, { log: pino({ level: 'silent' }) });
    cleanups.push(() => agent.stop());

    const decoded = () =>
      sub.messages().map((m) => {
        const t = parseTopic(m.topic);
        if (!t) throw new Error(`not a dayi topic: ${m.topic}`);
        const d = decodePayload(t.kind, m.payload);
        if (!d.ok) throw new Error(`${m.topic}: ${d.reason}`);
        return { kind: t.kind, body: d.payload as Record<string, unknown> };
      });
    const latestState = () =>
      decoded()
        .filter((m) => m.kind === 'state')
        .at(-1)?.body.state as string | undefined;
    const telemetry = () =>
      decoded()
        .filter((m) => m.kind === 'telemetry')
        .map((m) => m.body.metrics as Record<string, number>);
    const lastStatus = () =>
      decoded()
        .filter((m) => m.kind === 'status')
        .at(-1)?.body;

    let level = 'I=1523mA V=229.8';
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          pty.write(`${level}\r\n`);
        } catch {
          // Unplugged: the sensor is silent.
        }
        await sleep(50);
      }
    })();
    cleanups.push(async () => {
      writing = false;
      await writer;
    });

    await waitFor('state running', () => (latestState() === 'running' ? true : undefined));
    await waitFor('telemetry with current_a 1.523 A and voltage_v 229.8 V', () =>
      telemetry().some((m) => Math.abs((m.current_a ?? 0) - 1.523) < 1e-9 && m.voltage_v === 229.8)
        ? true
        : undefined,
    );

    level = 'I=100mA V=230.0';
    await waitFor('state standby at 0.1 A', () => (latestState() === 'standby' ? true : undefined));

    // Unplugged: the retained status names the device and the error; plugged back: readings resume.
    await pty.unplug();
    const down = await waitFor(
      'status showing the serial input disconnected',
      () => {
        const s = lastStatus();
        const input = (s?.inputs as { connected: boolean; lastError?: string }[] | undefined)?.[0];
        return input && !input.connected ? input : undefined;
      },
      20_000,
      () => decoded().filter((m) => m.kind === 'status'),
    );
    expect(down.lastError).toContain(pty.port);
    await pty.plug();
    level = 'I=2000mA V=231.0';
    await waitFor('running again after the replug', () => (latestState() === 'running' ? true : undefined));
    await waitFor('telemetry with current_a 2 A after the replug', () =>
      telemetry().some((m) => m.current_a === 2) ? true : undefined,
    );
  });
});
