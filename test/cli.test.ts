import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);

/** Runs `dayi …` as a user would, returning the exit code and both streams. */
async function dayi(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin/dayi.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const SECRETS = {
  DAYI_PLATFORM_KEY: 'platform-key-0123456789',
  DAYI_AUDITOR_KEY: 'auditor-key-0123456789',
  DAYI_AGENT_PW: 'agent-password',
  DAYI_INFLUX_PASSWORD: 'influx-password',
  HOOK_SECRET: 'hook-secret-0123456789',
  WECOM_ROBOT_URL: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example',
};

describe('dayi CLI', () => {
  it('explains itself', async () => {
    const top = await dayi(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['collector', 'agent', 'config check', 'demo']) expect(top.stdout).toContain(`dayi ${c}`);
    for (const args of [
      ['collector', '--help'],
      ['agent', '--help'],
      ['config', 'check', '--help'],
      ['demo', '--help'],
    ]) {
      const r = await dayi(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Usage/i);
    }
    const bad = await dayi(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });

  it('config check accepts every shipped example and deployment file', async () => {
    for (const file of [
      'examples/collector.yaml',
      'examples/agent.yaml',
      'deploy/collector.yaml',
      'deploy/agent-demo.yaml',
    ]) {
      const r = await dayi(['config', 'check', file], SECRETS);
      expect(r.stderr, file).toBe('');
      expect(r.code, file).toBe(0);
      expect(r.stdout).toContain('valid');
    }
  });

  it('config check prints every error with its path and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-cli-'));
    const agent = readFileSync(join(ROOT, 'examples/agent.yaml'), 'utf8')
      .replace('type: opcua', 'type: opcau')
      .replace('baudRate: 9600', 'baudRate: fast')
      .replace('publishEvery: 10s', 'publishEvery: 10s\n    colour: red');
    writeFileSync(join(dir, 'agent.yaml'), agent);
    const r = await dayi(['config', 'check', join(dir, 'agent.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mqtt.password: environment variable DAYI_AGENT_PW is not set');
    expect(r.stderr).toContain('instruments.0.inputs.1.baudRate');
    expect(r.stderr).toContain('instruments.0.inputs.2.type');
    expect(r.stderr).toContain('instruments.0.colour: unknown key');

    const unknownProfile = readFileSync(join(ROOT, 'examples/agent.yaml'), 'utf8').replace(
      'profile: eastron-sdm630',
      'profile: eastron-sdm999',
    );
    writeFileSync(join(dir, 'profile.yaml'), unknownProfile);
    const p = await dayi(['config', 'check', join(dir, 'profile.yaml')], SECRETS);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(
      /instruments\.0\.inputs\.0\.profile: unknown Modbus profile "eastron-sdm999"; .* eastron-sdm630/,
    );

    writeFileSync(join(dir, 'collector.yaml'), 'http: { port: 99999 }\ntimezone: Mars/Olympus\n');
    const c = await dayi(['config', 'check', join(dir, 'collector.yaml')]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/http\.port: .*65535/);
    expect(c.stderr).toContain('timezone: unknown IANA time zone');

    const missing = await dayi(['config', 'check', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
  });

  it('docker-compose.yml refers to files that exist and images it builds', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { volumes?: string[]; command?: string[] }>;
    };
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['collector', 'demo-agent']));
    for (const svc of Object.values(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (host.startsWith('./')) expect(existsSync(join(ROOT, host)), host).toBe(true);
      }
    }
  });
});
