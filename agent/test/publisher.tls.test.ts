/** mqtts: the agent with a CA, a client certificate and key, against Mosquitto requiring certificates. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload } from '@dayi/protocols';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.ts';
import { type RunningAgent, startAgent } from '../src/runtime.ts';
import {
  type Mosquitto,
  makeTestPki,
  mosquittoSub,
  sleep,
  startMosquitto,
  type TestPki,
} from './helpers/mosquitto.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-tls-'));
let pki: TestPki;
let m: Mosquitto;
const agents: RunningAgent[] = [];

beforeAll(async () => {
  pki = makeTestPki(root);
  m = await startMosquitto({
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireCertificate: true },
  });
});
afterAll(async () => {
  for (const a of agents) await a.stop();
  await m?.close();
  rmSync(root, { recursive: true, force: true });
});

function yaml(id: string, mqttExtra: string): string {
  return `
agent: { id: lab3-pc7 }
mqtt: { url: "${m.tlsUrl}", reconnect: { min: 200ms, max: 1s }${mqttExtra} }
outbox: { dir: ./outbox-${id}, fsync: false }
instruments:
  - { id: ${id}, publishEvery: 300ms, inputs: [ { type: simulated, pattern: constant } ] }
`;
}

describe('agent over mqtts', () => {
  it('connects with ca, cert and key (paths relative to the config) and publishes', async () => {
    const cfg = parseAgentConfig(yaml('TLS-1', ', ca: ca.pem, cert: client.pem, key: client.key'), {
      baseDir: root,
    });
    expect(cfg.mqtt.ca).toBe(pki.ca);
    const agent = await startAgent(cfg, { log: pino({ level: 'silent' }) });
    agents.push(agent);
    const [msg] = await mosquittoSub({
      port: m.port,
      topics: ['dayi/v1/TLS-1/telemetry'],
      count: 1,
      timeoutSeconds: 15,
    });
    expect(msg, `nothing arrived over TLS; broker log:\n${m.log()}`).toBeDefined();
    expect(decodePayload('telemetry', msg!.payload).ok).toBe(true);
  });

  it('refuses a broker whose certificate it cannot verify, and keeps the messages', async () => {
    // No CA: the server's certificate is signed by an unknown CA.
    const cfg = parseAgentConfig(yaml('TLS-2', ', cert: client.pem, key: client.key'), { baseDir: root });
    const agent = await startAgent(cfg, { log: pino({ level: 'silent' }) });
    agents.push(agent);
    await sleep(1500);
    expect(await mosquittoSub({ port: m.port, topics: ['dayi/v1/TLS-2/#'], timeoutSeconds: 1 })).toEqual([]);
    expect(agent.instruments[0]!.outbox.stats().pending).toBeGreaterThan(0);
  });
});
