/**
 * A server that hangs (or a cable pulled between agent and instrument) closes nothing: no FIN, no
 * RST, the socket looks alive. Here the server process is frozen with SIGSTOP. The input must see
 * that publish responses and keepalives stopped, drop the connection, and come back by itself
 * once the server runs again.
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
let server: FixtureServer;
let input: Input | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dayi-opcua-freeze-'));
  server = await startFixtureServer({ pki: join(dir, 'server-pki') });
});

afterAll(async () => {
  server?.resume();
  await input?.stop();
  await server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('detects a hung server whose socket stays open, and recovers when it answers again', async () => {
  const config = schema.parse({
    type: 'opcua',
    endpoint: server.endpoint,
    certificateDir: join(dir, 'client-pki'),
    samplingInterval: '100ms',
    publishingInterval: '100ms',
    timeout: '3s',
    reconnect: { minDelay: '200ms', maxDelay: '1s' },
    nodes: [{ browsePath: 'machinery:Machines/DemoMachine/ActivePower', metric: 'power_w' }],
  });
  input = create(config, {
    instrumentId: 'T-4',
    log: pino({ level: 'silent' }),
    profiles: diskProfiles(PROFILES),
  });
  const sink = new RecordingSink();
  await server.set('power', 5);
  await input.start(sink);
  await sink.waitFor('power_w 5', () => sink.values('power_w').includes(5));

  server.pause();
  await eventually(
    'link() to show the hung server as disconnected',
    () => input!.link().connected === false,
    40_000,
  );
  const lost = sink.errors.find((e) => /connection lost/i.test(e.err.message));
  expect(lost?.context).toMatchObject({ endpoint: server.endpoint });

  server.resume();
  await server.set('power', 6);
  await eventually('link() connected again', () => input!.link().connected === true, 30_000);
  await sink.waitFor(
    'power_w 6 after the server answers again',
    () => sink.values('power_w').includes(6),
    30_000,
  );
});
