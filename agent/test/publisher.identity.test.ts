/**
 * The client id each instrument session uses: under the name the collector knows the agent by, so
 * the collector's rule (a client id is the username or starts with `<username>:`) lets it in and
 * keeps every other agent out of its sessions.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../src/config.ts';
import { clientIdFor, mqttIdentity } from '../src/publisher/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'dayi-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MQTT client ids', () => {
  it('are <username>:<instrument id>, the username from mqtt.username, the URL, a certificate CN, or agent.id', () => {
    const m = (o: Record<string, unknown>) => mqttConfigSchema.parse({ url: 'mqtt://127.0.0.1:1883', ...o });
    expect(clientIdFor(mqttIdentity(m({ username: 'lab3-pc7', password: 'x' }), 'pc'), 'ZJ-NMR-0001')).toBe(
      'lab3-pc7:ZJ-NMR-0001',
    );
    expect(mqttIdentity(m({ url: 'mqtt://lab%2Dx:pw@127.0.0.1:1883' }), 'pc')).toBe('lab-x');
    const cert = join(dir, 'agent.pem');
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
        ...['-subj', '/O=Lab/CN=lab5-box1', '-keyout', join(dir, 'agent.key'), '-out', cert],
      ],
      { stdio: 'ignore' },
    );
    expect(mqttIdentity(m({ url: 'mqtts://127.0.0.1:8883', cert, key: join(dir, 'agent.key') }), 'pc')).toBe(
      'lab5-box1',
    );
    expect(mqttIdentity(m({}), 'pc-without-credentials')).toBe('pc-without-credentials');
  });
});
