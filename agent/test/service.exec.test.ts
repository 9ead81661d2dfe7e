/**
 * The generated unit's command line really starts the agent: install into a temporary unit folder
 * (no systemctl), then run ExecStart as systemd would (its WorkingDirectory, its EnvironmentFile,
 * no inherited secrets) and watch the agent come online at a real Mosquitto, then stop on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installService, parseEnvFile } from '../src/service/index.ts';
import { type Mosquitto, sleep, startMosquitto, startSubscriber } from './helpers/mosquitto.ts';

const USER = { username: 'lab3-pc7', password: 'pw-for-service-tests' };
const dir = mkdtempSync(join(tmpdir(), 'dayi-service-exec-'));
let broker: Mosquitto | undefined;
let agent: ChildProcess | undefined;
afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The unit's `Key=value` lines of one section. */
function unitValues(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('the installed unit starts the agent', () => {
  it('runs ExecStart with the environment file, comes online, and stops cleanly on SIGTERM', async () => {
    broker = await startMosquitto({ users: [USER] });
    mkdirSync(join(dir, 'etc'));
    const configFile = join(dir, 'etc', 'agent.yaml');
    writeFileSync(
      configFile,
      `agent: { id: lab3-pc7 }
mqtt: { url: "${broker.url}", username: ${USER.username}, password: "\${DAYI_TEST_SERVICE_PW}" }
outbox: { dir: ./outbox, fsync: false }
instruments:
  - id: ZJ-SVC-0001
    publishEvery: 500ms
    inputs:
      - { type: simulated, pattern: constant, every: 100ms }
`,
    );
    writeFileSync(join(dir, 'etc', 'agent.env'), `DAYI_TEST_SERVICE_PW=${USER.password}\n`, { mode: 0o600 });
    const unitDir = join(dir, 'units');
    const out: string[] = [];
    const code = await installService({
      configFile,
      unitDir,
      enable: false,
      env: { PATH: process.env.PATH ?? '' },
      out: (s) => out.push(s),
      err: (s) => out.push(s),
    });
    expect(code, out.join('')).toBe(0);
    const unit = readFileSync(join(unitDir, 'dayi-agent-lab3-pc7.service'), 'utf8');

    const [execStart] = unitValues(unit, 'ExecStart');
    const [cwd] = unitValues(unit, 'WorkingDirectory');
    const [envFile] = unitValues(unit, 'EnvironmentFile');
    // No spaces in these temporary paths, so ExecStart splits on spaces.
    const [command, ...args] = execStart!.split(' ');
    const env = {
      PATH: '/usr/bin:/bin',
      ...parseEnvFile(readFileSync(envFile!.replace(/^-/, ''), 'utf8')),
      ...Object.fromEntries(unitValues(unit, 'Environment').map((e) => e.split('=', 2) as [string, string])),
    };

    const sub = startSubscriber({ port: broker.port, topics: ['dayi/v1/ZJ-SVC-0001/status'], ...USER });
    let logs = '';
    agent = spawn(command!, args, { cwd: cwd!, env, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    agent.stderr?.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    const online = () => sub.messages().some((m) => JSON.parse(m.payload).online === true);
    const deadline = Date.now() + 30_000;
    while (!online()) {
      if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}:\n${logs}`);
      if (Date.now() > deadline) throw new Error(`no status online within 30 s; agent output:\n${logs}`);
      await sleep(100);
    }

    const exited = new Promise<number | null>((r) => agent?.once('exit', (c) => r(c)));
    agent.kill('SIGTERM');
    expect(await exited, logs).toBe(0);
    await sleep(300);
    await sub.stop();
    const last = sub.messages().at(-1);
    expect(JSON.parse(last!.payload)).toMatchObject({ online: false });
    // The outbox went where the unit allows writing.
    expect(unitValues(unit, 'ReadWritePaths')).toEqual([join(dir, 'etc', 'outbox')]);
  });
});
