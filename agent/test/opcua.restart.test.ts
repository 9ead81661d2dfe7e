/**
 * The most reported OPC UA input bug (Telegraf's among others): after the server restarts, the
 * input keeps a dead session or subscription and never delivers again. Here the server is killed
 * (SIGKILL, no goodbye) and started again on the same port with every namespace index and numeric
 * node id changed; the same input instance, never restarted, must come back by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { create } from '../src/inputs/opcua/index.ts';
import { schema } from '../src/inputs/opcua/schema.ts';
import { diskProfiles } from '../src/inputs/profiles-load.ts';
import type { Input } from '../src/inputs/types.ts';
import { type FixtureServer, startFixtureServer } from './helpers/opcua-server.ts';
import { eventually, RecordingSink } from './helpers/opcua-sink.ts';

const PROFILES = fileURLToPath(new URL('../../firmware-configs', import.meta.url));

let dir: string;
let server: FixtureServer | undefined;
let input: Input | undefined;
let other: { server?: FixtureServer; input?: Input } = {};

let firstServer: FixtureServer;
let secondServer: FixtureServer;

// Servers start here, outside the tests' time budget (a node-opcua server takes seconds on a busy CI).
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dayi-opcua-restart-'));
  [firstServer, secondServer] = await Promise.all([
    startFixtureServer({ pki: join(dir, 'server-pki') }),
    startFixtureServer({ pki: join(dir, 'server-pki-2') }),
  ]);
  server = firstServer;
  other = { server: secondServer };
});

afterAll(async () => {
  await input?.stop();
  await other.input?.stop();
  await server?.kill('SIGKILL');
  await other.server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('recovers by itself after a server restart with new node ids: new session, subscription and resolution', async () => {
  const pki = join(dir, 'server-pki');
  const first = firstServer;
  const config = schema.parse({
    type: 'opcua',
    endpoint: first.endpoint,
    certificateDir: join(dir, 'client-pki'),
    acceptUnknownServerCertificate: true,
    samplingInterval: '100ms',
    publishingInterval: '100ms',
    reconnect: { minDelay: '200ms', maxDelay: '1s' },
    every: '200ms',
    profile: 'opcua-machinery',
    nodes: [{ browsePath: 'ActivePower', metric: 'power_w' }],
  });
  input = create(config, {
    instrumentId: 'T-2',
    log: pino({ level: 'silent' }),
    profiles: diskProfiles(PROFILES),
  });
  const sink = new RecordingSink();
  await first.set('power', 120);
  await first.set('itemState', 'Executing');
  await input.start(sink);
  await sink.waitFor('power_w 120 before the restart', () => sink.values('power_w').includes(120));
  await sink.waitFor('state running before the restart', () => sink.states().at(-1) === 'running');
  expect(input.link().connected).toBe(true);

  await first.kill('SIGKILL');
  server = undefined;
  await eventually('link() to show the input disconnected', () => input!.link().connected === false, 20_000);
  expect(input.link().lastError).toMatch(/connection lost|connect/i);
  const lost = sink.errors.find((e) => /connection lost/i.test(e.err.message));
  expect(lost?.context).toMatchObject({ endpoint: first.endpoint });
  // Down for a while: a few reconnect attempts fail against a closed port.
  const whileUp = sink.readings.length;
  await new Promise((r) => setTimeout(r, 1500));
  expect(input.link().connected).toBe(false);
  // No fresh data, no evidence: the held values are not sent while disconnected (7 periods).
  expect(sink.readings.length).toBe(whileUp);

  const before = sink.readings.length;
  server = await startFixtureServer({ pki, port: first.port, variant: 2 });
  expect(server.ids.power).not.toBe(first.ids.power);
  expect(server.ids.itemState).not.toBe(first.ids.itemState);
  await server.set('power', 777);
  await server.set('itemState', 'NotExecuting');

  await eventually(
    'link() to show the input connected again',
    () => input!.link().connected === true,
    30_000,
  );
  await sink.waitFor('power_w 777 after the restart', () => sink.values('power_w').includes(777), 30_000);
  await sink.waitFor('state idle after the restart', () =>
    sink.readings.slice(before).some((r) => r.state === 'idle'),
  );
  await server.set('power', 778);
  await sink.waitFor('further changes keep coming', () => sink.values('power_w').includes(778));
});

it('rebuilds the session and subscription when the server drops the session but keeps the socket', async () => {
  const srv = secondServer;
  const config = schema.parse({
    type: 'opcua',
    endpoint: srv.endpoint,
    certificateDir: join(dir, 'client-pki'),
    acceptUnknownServerCertificate: true,
    samplingInterval: '100ms',
    publishingInterval: '100ms',
    reconnect: { minDelay: '200ms', maxDelay: '1s' },
    nodes: [{ nodeId: srv.ids.power, metric: 'power_w' }],
  });
  const inp = create(config, {
    instrumentId: 'T-3',
    log: pino({ level: 'silent' }),
    profiles: diskProfiles(PROFILES),
  });
  other.input = inp;
  const sink = new RecordingSink();
  await srv.set('power', 1);
  await inp.start(sink);
  await sink.waitFor('power_w 1', () => sink.values('power_w').includes(1));

  await srv.dropSessions();
  const lost = await sink.waitFor('the lost session reported', () =>
    sink.errors.find((e) => /connection lost/i.test(e.err.message)),
  );
  expect(lost.context).toMatchObject({ endpoint: srv.endpoint });
  await srv.set('power', 2);
  await sink.waitFor('power_w 2 through a new session', () => sink.values('power_w').includes(2), 30_000);
  expect(inp.link().connected).toBe(true);
});
