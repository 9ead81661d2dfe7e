/**
 * API keys and agent credentials without YAML (issue 11), and `dayi instruments import`, against a
 * running collector whose store the CLI opens beside it: a key made by the CLI works at once and
 * a revoked one is refused at once; an agent credential connects over MQTT (client id rules
 * included), and a rotation or a revocation counts at the next CONNECT, without a restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessCommand } from '../src/access/cli.ts';
import { build } from '../src/app.ts';
import { apiConfig, KEYS } from './helpers/e2e-api.ts';

function capture() {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: {
        write: (s: string | Uint8Array) => {
          out += String(s);
          return true;
        },
      },
      stderr: {
        write: (s: string | Uint8Array) => {
          err += String(s);
          return true;
        },
      },
    },
    out: () => out,
    err: () => err,
  };
}

describe('dayi apikey, agent-credentials and instruments import beside a running collector', () => {
  let dir: string;
  let app: FastifyInstance;
  let yaml: string;
  let url: string;
  let mqttPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dayi-access-'));
    const sqlite = join(dir, 'store.sqlite');
    yaml = join(dir, 'collector.yaml');
    writeFileSync(
      yaml,
      `store:\n  sqlite: ${sqlite}\napiKeys:\n  - { name: admin-key, key: ${KEYS.admin}, role: admin }\n`,
    );
    app = await build(
      apiConfig({
        store: { sqlite, sync: 'normal' },
        instruments: [
          { id: 'ZJ-A-1', org: 'Alpha University' },
          { id: 'ZJ-B-1', org: 'Beta Institute' },
        ],
        mqtt: { host: '127.0.0.1', port: 0, connectThrottle: { freeFailures: 100 } },
      }),
      { logger: false },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}`;
    mqttPort = app.dayi.mqttPort;
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (group: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const c = capture();
    const code = await accessCommand(group, args, { ...c.io, env });
    return { code, out: c.out(), err: c.err() };
  };
  const list = (key: string) =>
    fetch(`${url}/v1/instruments`, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { items?: { id: string }[] },
    }));

  it('apikey create prints a key that works at once, org-scoped; revoke refuses it at once', async () => {
    const made = await run('apikey', [
      'create',
      '--role',
      'manager',
      '--org',
      'Alpha University',
      '--name',
      'alpha-mgr',
      '-c',
      yaml,
    ]);
    expect(made.code).toBe(0);
    const key = made.out.split('\n')[0]!;
    expect(key).toMatch(/^dayi_[A-Za-z0-9_-]{43}$/);
    const seen = await list(key);
    expect(seen.status).toBe(200);
    expect(seen.body.items!.map((i) => i.id)).toEqual(['ZJ-A-1']);

    const listed = await run('apikey', ['list', '-c', yaml]);
    expect(listed.out).toMatch(/alpha-mgr\s+manager\s+Alpha University\s+store/);
    expect(listed.out).toMatch(/admin-key\s+admin\s+-\s+config/);
    expect(listed.out).not.toContain(key);

    const dup = await run('apikey', ['create', '--role', 'manager', '--name', 'alpha-mgr', '-c', yaml]);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/exists/);

    expect((await run('apikey', ['revoke', 'alpha-mgr', '-c', yaml])).code).toBe(0);
    expect((await list(key)).status).toBe(401);
    expect((await run('apikey', ['revoke', 'alpha-mgr', '-c', yaml])).code).toBe(1);
    expect((await run('apikey', ['create', '--role', 'boss', '-c', yaml])).code).toBe(2);
  });

  it('instruments import: one bad row, the rest land; exit 1 naming row and field', async () => {
    const file = join(dir, 'registry.csv');
    writeFileSync(
      file,
      '仪器编号,仪器名称,所属单位,定额机时\nZJ-C-1,离心机,Gamma College,1400\nZJ-C-2,坏行,Gamma College,abc\n',
    );
    const dry = await run('instruments', ['import', file, '--dry-run', '--url', url], {
      DAYI_API_KEY: KEYS.admin,
    });
    expect(dry.code).toBe(1);
    expect(dry.out).toMatch(/dry run, nothing written: 2 rows: 1 created/);
    expect((await list(KEYS.admin)).body.items!.map((i) => i.id)).not.toContain('ZJ-C-1');
    const res = await run('instruments', ['import', file, '--url', url], { DAYI_API_KEY: KEYS.admin });
    expect(res.code).toBe(1);
    expect(res.err).toContain('row 3 (ZJ-C-2): quotaHours: "abc" is not a number');
    expect((await list(KEYS.admin)).body.items!.map((i) => i.id)).toContain('ZJ-C-1');
    const noKey = await run('instruments', ['import', file, '--url', url]);
    expect(noKey.code).toBe(2);
  });

  it('a technician key of one org makes, rotates and revokes agent credentials over the API', async () => {
    const made = await run('apikey', [
      'create',
      '--role',
      'technician',
      '--org',
      'Alpha University',
      '-c',
      yaml,
    ]);
    const key = made.out.split('\n')[0]!;
    const call = (method: string, path: string, body?: object) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }).then(async (r) => ({
        status: r.status,
        body: (r.status === 204 ? {} : await r.json()) as { password: string; items: { username: string }[] },
      }));
    const other = await call('POST', '/v1/agents', { instruments: ['ZJ-B-1'], username: 'lab-b' });
    expect(other.status).toBe(404);
    const created = await call('POST', '/v1/agents', { instruments: ['ZJ-A-1'], username: 'lab-a-api' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      username: 'lab-a-api',
      instruments: ['ZJ-A-1'],
      org: 'Alpha University',
    });
    const connect = (pw: string) =>
      mqtt
        .connectAsync({
          host: '127.0.0.1',
          port: mqttPort,
          clientId: 'lab-a-api/1',
          username: 'lab-a-api',
          password: pw,
          reconnectPeriod: 0,
        })
        .then(
          async (c) => {
            await c.endAsync();
            return 'ok';
          },
          (err: Error & { code?: number }) => `refused ${err.code ?? err.message}`,
        );
    expect(await connect(created.body.password)).toBe('ok');
    const listed = await call('GET', '/v1/agents');
    expect(listed.body.items.map((i: { username: string }) => i.username)).toEqual(['lab-a-api']);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.password);
    const rotated = await call('POST', '/v1/agents/lab-a-api/rotate');
    expect(rotated.status).toBe(200);
    expect(await connect(created.body.password)).toMatch(/^refused 4/);
    expect(await connect(rotated.body.password)).toBe('ok');
    // a session open when the credential is revoked is closed by the broker's sweep
    const live = await mqtt.connectAsync({
      host: '127.0.0.1',
      port: mqttPort,
      clientId: 'lab-a-api',
      username: 'lab-a-api',
      password: rotated.body.password,
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    expect((await call('DELETE', '/v1/agents/lab-a-api')).status).toBe(204);
    await closed;
    live.end(true);
    expect(await connect(rotated.body.password)).toMatch(/^refused 4/);
    expect((await call('DELETE', '/v1/agents/lab-a-api')).status).toBe(404);
  });

  it('agent-credentials: connect, client id rules, rotation and revocation without a restart', async () => {
    const made = await run('agent-credentials', [
      'create',
      '--instruments',
      'ZJ-A-1',
      '--username',
      'lab-a-pc1',
      '-c',
      yaml,
    ]);
    expect(made.code).toBe(0);
    const password = /password: (\S+)/.exec(made.out)![1]!;
    const connect = (clientId: string, pw: string) =>
      mqtt
        .connectAsync({
          host: '127.0.0.1',
          port: mqttPort,
          clientId,
          username: 'lab-a-pc1',
          password: pw,
          reconnectPeriod: 0,
        })
        .then(
          async (c) => {
            await c.endAsync();
            return 'ok';
          },
          (err: Error & { code?: number }) => `refused ${err.code ?? err.message}`,
        );
    expect(await connect('lab-a-pc1', password)).toBe('ok');
    expect(await connect('lab-a-pc1:sim', password)).toBe('ok');
    expect(await connect('someone-else', password)).toMatch(/^refused 2/);
    expect(await connect('lab-a-pc1', 'wrong-password')).toMatch(/^refused 4/);

    const rotated = await run('agent-credentials', ['rotate', 'lab-a-pc1', '-c', yaml]);
    const fresh = /password: (\S+)/.exec(rotated.out)![1]!;
    expect(fresh).not.toBe(password);
    expect(await connect('lab-a-pc1', password)).toMatch(/^refused 4/);
    expect(await connect('lab-a-pc1', fresh)).toBe('ok');

    const listed = await run('agent-credentials', ['list', '-c', yaml]);
    expect(listed.out).toMatch(/lab-a-pc1\s+ZJ-A-1\s+-\s+store/);
    expect(listed.out).not.toContain(fresh);

    expect((await run('agent-credentials', ['revoke', 'lab-a-pc1', '-c', yaml])).code).toBe(0);
    expect(await connect('lab-a-pc1', fresh)).toMatch(/^refused 4/);
  });
});
