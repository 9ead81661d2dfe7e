/**
 * The opcua input against a real node-opcua server (a child process, see fixtures/opcua/server.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '../src/inputs/opcua/index.ts';
import { schema } from '../src/inputs/opcua/schema.ts';
import { diskProfiles } from '../src/inputs/profiles-load.ts';
import type { Input } from '../src/inputs/types.ts';
import { FIXTURE_USER, type FixtureServer, startFixtureServer } from './helpers/opcua-server.ts';
import { eventually, RecordingSink } from './helpers/opcua-sink.ts';

const PROFILES = fileURLToPath(new URL('../../firmware-configs', import.meta.url));
const MACHINE = 'machinery:Machines/DemoMachine';
const ITEM_STATE = `${MACHINE}/machinery:MachineryBuildingBlocks/machinery:MachineryItemState/CurrentState`;

let dir: string;
let server: FixtureServer;
const inputs: Input[] = [];

function makeInput(raw: Record<string, unknown>): Input {
  const config = schema.parse({
    type: 'opcua',
    endpoint: server.endpoint,
    certificateDir: join(dir, 'client-pki'),
    acceptUnknownServerCertificate: true,
    samplingInterval: '100ms',
    publishingInterval: '100ms',
    reconnect: { minDelay: '200ms', maxDelay: '1s' },
    ...raw,
  });
  const input = create(config, {
    instrumentId: 'T-1',
    log: pino({ level: 'silent' }),
    profiles: diskProfiles(PROFILES),
  });
  inputs.push(input);
  return input;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dayi-opcua-'));
  server = await startFixtureServer({ pki: join(dir, 'server-pki') });
});

afterAll(async () => {
  await Promise.all(inputs.map((i) => i.stop()));
  await server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('opcua input', () => {
  it('reads metrics and state by node id and by browse path, drops changes inside the deadband, reports an unresolvable node while the others go on, and picks it up once it appears', async () => {
    await server.set('power', 3.5);
    await server.set('itemState', 'NotExecuting');
    const input = makeInput({
      deadband: { type: 'absolute', value: 5 },
      nodes: [
        { nodeId: server.ids.power, metric: 'power_w' },
        {
          browsePath: `${MACHINE}/machinery:MachineryBuildingBlocks/di:OperationCounters/di:PowerOnDuration`,
          metric: 'power_on_hours',
          scale: 1 / 3_600_000,
        },
        { browsePath: `${MACHINE}/LatePower`, metric: 'late_w' },
      ],
      state: {
        browsePath: ITEM_STATE,
        map: { NotExecuting: 'idle', Executing: 'running', OutOfService: 'fault' },
      },
    });
    const sink = new RecordingSink();
    await input.start(sink);

    await sink.waitFor('power_w 3.5', () => sink.values('power_w').includes(3.5));
    await sink.waitFor('power_on_hours 2', () => sink.values('power_on_hours').includes(2));
    await sink.waitFor('state idle', () => sink.states().includes('idle'));
    expect(input.link().connected).toBe(true);

    const missing = await sink.waitFor('an error for the missing node', () =>
      sink.errors.find((e) => e.context.browsePath === `${MACHINE}/LatePower`),
    );
    expect(missing.context).toMatchObject({ endpoint: server.endpoint, metric: 'late_w' });
    expect(missing.err.message).toContain('no LatePower under machinery:Machines/DemoMachine');
    expect(missing.err.message).toContain('ActivePower');

    // The node appears on the server: tried again on the same session, no reconnect needed.
    await server.set('addLatePower', 0);
    await sink.waitFor('late_w 11 once LatePower exists', () => sink.values('late_w').includes(11));

    // 3.5 -> 7 moves by 3.5, inside the 5 W deadband: never delivered. 7 -> 30 is delivered.
    await server.set('power', 7);
    await new Promise((r) => setTimeout(r, 600));
    // The deadband limits which changes update the held value: still 3.5.
    expect(sink.values('power_w').at(-1)).toBe(3.5);
    await server.set('power', 30);
    await sink.waitFor('power_w 30', () => sink.values('power_w').includes(30));
    expect(sink.values('power_w')).not.toContain(7);

    await server.set('itemState', 'Executing');
    await sink.waitFor('state running', () => sink.states().at(-1) === 'running');
    await server.set('itemState', 'OutOfService');
    await sink.waitFor('state fault (a vendor fault)', () => sink.states().at(-1) === 'fault');
  });

  it('while connected, sends the held values and state every `every` although nothing changes on the server', async () => {
    await server.set('power', 250);
    await server.set('itemState', 'Executing');
    const every = 200;
    const input = makeInput({
      every: `${every}ms`,
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
      state: { browsePath: ITEM_STATE, map: { NotExecuting: 'idle', Executing: 'running' } },
    });
    const sink = new RecordingSink();
    const started = Date.now();
    await input.start(sink);
    const held = () =>
      sink.readings.filter((r) => r.state === 'running' && Object.keys(r.metrics).length > 0);
    await sink.waitFor('5 held readings of an unchanging server', () => held().length >= 5);
    const elapsed = Date.now() - started;
    // Nothing was set on the server meanwhile, so the subscription delivered each node once (at
    // connect); every reading since is the same snapshot of all the input's nodes.
    expect(sink.states().every((s) => s === 'running')).toBe(true);
    for (const r of held()) expect(r.metrics).toEqual({ power_w: 250 });
    expect(sink.errors).toEqual([]);
    // At most one snapshot per `every` (an upper bound only: a slow machine sends fewer, never more).
    expect(held().length).toBeLessThanOrEqual(Math.floor(elapsed / every) + 1);
    const ts = sink.readings.map((r) => r.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
  });

  it('reads state, operation mode and counters through the opcua-machinery and opcua-lads profiles', async () => {
    await server.set('itemState', 'NotExecuting');
    await server.set('deviceState', 'Operate');
    await server.set('pumpState', 'Stopped');
    await server.set('ovenState', 'Stopped');
    const machinery = makeInput({ profile: 'opcua-machinery' });
    const lads = makeInput({ profile: 'opcua-lads' });
    const m = new RecordingSink();
    const l = new RecordingSink();
    await machinery.start(m);
    await lads.start(l);

    await m.waitFor('machinery state idle', () => m.states().includes('idle'));
    await m.waitFor('operation_mode Processing (3)', () => m.values('operation_mode').includes(3));
    const hours = await m.waitFor('power_on_hours', () => m.values('power_on_hours')[0]);
    expect(hours).toBeCloseTo(2, 9);
    const opHours = await m.waitFor('operation_hours', () => m.values('operation_hours')[0]);
    expect(opHours).toBeCloseTo(1, 9);
    await server.set('itemState', 'Executing');
    await m.waitFor('machinery state running', () => m.states().at(-1) === 'running');
    // The fixture has no OperationCycleCounter: optional, so not an error.
    expect(m.errors.map((e) => e.err.message)).toEqual([]);

    await l.waitFor('LADS idle (device Operate, units Stopped)', () => l.states().includes('idle'));
    await server.set('pumpState', 'Running');
    await l.waitFor('LADS running (one unit Running)', () => l.states().at(-1) === 'running');
    await server.set('ovenState', 'Aborted');
    await l.waitFor('LADS fault (one unit Aborted)', () => l.states().at(-1) === 'fault');
    await server.set('ovenState', 'Stopped');
    await server.set('pumpState', 'Stopped');
    await l.waitFor('LADS idle again', () => l.states().at(-1) === 'idle');
    await server.set('pumpState', 'Running');
    await l.waitFor('LADS running again', () => l.states().at(-1) === 'running');
    await server.set('deviceState', 'Shutdown');
    await l.waitFor(
      'LADS off: the device state wins over a unit still Running',
      () => l.states().at(-1) === 'off',
    );
    expect(l.errors.map((e) => e.err.message)).toEqual([]);
  });

  it('connects with Sign and with SignAndEncrypt / Basic256Sha256 and a user, and reports a wrong password with context', async () => {
    await server.set('power', 42);
    const signed = makeInput({
      securityMode: 'Sign',
      securityPolicy: 'Basic256Sha256',
      username: FIXTURE_USER.userName,
      password: FIXTURE_USER.password,
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
    });
    const good = makeInput({
      securityMode: 'SignAndEncrypt',
      username: FIXTURE_USER.userName,
      password: FIXTURE_USER.password,
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
    });
    const bad = makeInput({
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      username: FIXTURE_USER.userName,
      password: 'wrong-password',
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
    });
    const g = new RecordingSink();
    const b = new RecordingSink();
    const sg = new RecordingSink();
    await good.start(g);
    await bad.start(b);
    await signed.start(sg);

    await g.waitFor('power_w 42 over an encrypted channel', () => g.values('power_w').includes(42));
    expect(good.link().connected).toBe(true);
    await sg.waitFor('power_w 42 over a signed channel', () => sg.values('power_w').includes(42));
    expect(signed.link().connected).toBe(true);
    expect(sg.errors).toEqual([]);

    const refused = await b.waitFor('the wrong password reported', () => b.errors[0]);
    expect(refused.err.message).toMatch(/session refused \(user technician\)/);
    expect(refused.err.message).toMatch(
      /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/,
    );
    expect(refused.context).toMatchObject({ endpoint: server.endpoint, user: 'technician' });
    expect(JSON.stringify(refused.context) + refused.err.message).not.toContain('wrong-password');
    await eventually('link shows the error', () => (bad.link().lastError ?? '').includes('session refused'));
    expect(bad.link().connected).toBe(false);
    expect(b.readings).toEqual([]);
  });

  it('reads a node without deadband when the server refuses a percent deadband (no EURange), and says so', async () => {
    await server.set('power', 64);
    const input = makeInput({
      deadband: { type: 'percent', value: 10 },
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
    });
    const sink = new RecordingSink();
    await input.start(sink);
    await sink.waitFor('power_w 64', () => sink.values('power_w').includes(64));
    const refused = sink.errors.find((e) => e.err.message.includes('deadband refused'));
    expect(refused?.context).toMatchObject({
      endpoint: server.endpoint,
      nodeId: server.ids.power,
      metric: 'power_w',
    });
    expect(input.link().connected).toBe(true);
  });

  it('stop() does not wait for a connect timeout when the server accepts TCP and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const input = makeInput({
        endpoint: `opc.tcp://127.0.0.1:${port}`,
        timeout: '10m',
        nodes: [{ nodeId: 'ns=1;i=1', metric: 'power_w' }],
      });
      const sink = new RecordingSink();
      await input.start(sink);
      await eventually('the agent to open a TCP connection', () => sockets.length > 0);
      // With a 10 min connect timeout, only an aborted connect lets this finish within the test's time.
      await input.stop();
      expect(input.link().connected).toBe(false);
      expect(sink.readings).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('refuses an unknown server certificate by default, and connects once an administrator trusts it', async () => {
    await server.set('power', 128);
    const certificateDir = join(dir, 'strict-pki');
    const input = makeInput({
      securityMode: 'SignAndEncrypt',
      certificateDir,
      acceptUnknownServerCertificate: false,
      nodes: [{ nodeId: server.ids.power, metric: 'power_w' }],
    });
    const sink = new RecordingSink();
    await input.start(sink);
    const refused = await sink.waitFor('the untrusted server certificate reported', () => sink.errors[0]);
    expect(refused.err.message).toMatch(/BadCertificateUntrusted/);
    expect(input.link().connected).toBe(false);

    // What the README tells the administrator to do: move it from rejected/ to trusted/certs/.
    const rejected = readdirSync(join(certificateDir, 'rejected')).filter((f) => f.endsWith('.pem'));
    expect(rejected).toHaveLength(1);
    mkdirSync(join(certificateDir, 'trusted', 'certs'), { recursive: true });
    renameSync(
      join(certificateDir, 'rejected', rejected[0]!),
      join(certificateDir, 'trusted', 'certs', rejected[0]!),
    );
    await sink.waitFor('power_w 128 once the certificate is trusted', () =>
      sink.values('power_w').includes(128),
    );
    expect(input.link().connected).toBe(true);
  });
});
