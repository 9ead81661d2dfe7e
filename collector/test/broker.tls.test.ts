import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_A,
  type Collector,
  connectAgent,
  countRows,
  mosquitto,
  startCollector,
  statePayload,
  T0,
  tempDir,
} from './helpers/mqtt-harness.ts';

describe('broker: the optional TLS listener', () => {
  const tmp = tempDir();
  const dbPath = `${tmp.dir}/tls.sqlite`;
  const cert = `${tmp.dir}/cert.pem`;
  const key = `${tmp.dir}/key.pem`;
  let c: Collector;

  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
        ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
        ...['-keyout', key, '-out', cert],
      ],
      { stdio: 'ignore' },
    );
    c = await startCollector(dbPath, { mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert, key } } });
  });
  afterAll(async () => {
    await c.stop();
    tmp.remove();
  });

  it('accepts authenticated agents over TLS with the same durable ingest', async () => {
    expect(c.broker.tlsPort).toBeGreaterThan(0);
    expect(c.broker.tlsPort).not.toBe(c.port);
    const a = await connectAgent({ port: c.broker.tlsPort! }, AGENT_A, {
      protocol: 'mqtts',
      ca: readFileSync(cert),
      servername: 'localhost',
    });
    await a.publishAsync('dayi/v1/NMR-1/state', statePayload(1, T0), { qos: 1 });
    await a.endAsync();
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'NMR-1'")).toBe(1);
    const pub = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(c.broker.tlsPort), '--cafile', cert],
      ...['-u', AGENT_A.username, '-P', AGENT_A.password, '-q', '1', '-V', 'mqttv311'],
      ...['-t', 'dayi/v1/NMR-1/state', '-m', statePayload(2, T0 + 1000)],
    ]);
    expect(pub).toMatchObject({ code: 0 });
    expect(countRows(dbPath, "SELECT COUNT(*) FROM messages WHERE instrument_id = 'NMR-1'")).toBe(2);
  });

  it('names the config key when the certificate cannot be read', async () => {
    await expect(
      startCollector(`${tmp.dir}/tls2.sqlite`, {
        mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: `${tmp.dir}/missing.pem`, key } },
      }),
    ).rejects.toThrow(/mqtt\.tls\.cert: cannot read .*missing\.pem/);
  });
});
