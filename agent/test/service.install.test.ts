import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installService, REPO_DIR, serviceCommand, uninstallService } from '../src/service/index.ts';

const AGENT_YAML = `
agent: { id: lab3-pc7 }
mqtt: { url: "mqtt://127.0.0.1:1883", username: lab3-pc7, password: "\${DAYI_TEST_AGENT_PW}" }
outbox: { dir: ./outbox }
instruments:
  - id: ZJ-NMR-0001
    inputs:
      - { type: simulated, pattern: constant }
`;

interface Captured {
  out: string;
  err: string;
  io: { out: (s: string) => void; err: (s: string) => void };
}

function capture(): Captured {
  const c: Captured = {
    out: '',
    err: '',
    io: {
      out: (s) => {
        c.out += s;
      },
      err: (s) => {
        c.err += s;
      },
    },
  };
  return c;
}

describe('dayi agent install / uninstall (systemd, into a temporary unit folder)', () => {
  let dir: string;
  let unitDir: string;
  let configFile: string;
  const env = { PATH: process.env.PATH ?? '' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dayi-service-'));
    unitDir = join(dir, 'units');
    mkdirSync(join(dir, 'etc'));
    configFile = join(dir, 'etc', 'agent.yaml');
    writeFileSync(configFile, AGENT_YAML);
    writeFileSync(join(dir, 'etc', 'agent.env'), 'DAYI_TEST_AGENT_PW=s3cret-pw\n', { mode: 0o600 });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the unit with absolute paths, without enabling it, and uninstall removes it', async () => {
    const c = capture();
    // A relative config path, as a technician types it.
    const code = await installService({
      configFile: relative(process.cwd(), configFile),
      unitDir,
      enable: false,
      env,
      ...c.io,
    });
    expect(code, c.err).toBe(0);
    const unitFile = join(unitDir, 'dayi-agent-lab3-pc7.service');
    const unit = readFileSync(unitFile, 'utf8');
    // The bundle `npm ci` builds (agent/build.js), or the sources if there is none, with a warning.
    const bundle = join(REPO_DIR, 'agent/dist/dayi-agent.mjs');
    const entry = existsSync(bundle)
      ? `--lite-mode ${bundle}`
      : `--max-semi-space-size=1 ${join(REPO_DIR, 'bin/dayi.js')} agent`;
    expect(unit).toContain(
      `ExecStart=${join(REPO_DIR, 'node_modules/node/bin/node')} ${entry} -c ${configFile}\n`,
    );
    if (!existsSync(bundle)) expect(c.err).toContain('no agent bundle');
    expect(unit).toContain(`WorkingDirectory=${join(dir, 'etc')}\n`);
    expect(unit).toContain(`EnvironmentFile=-${join(dir, 'etc', 'agent.env')}\n`);
    expect(unit).toContain(`ReadWritePaths=${join(dir, 'etc', 'outbox')}\n`);
    // The outbox folder exists, so systemd can make it writable.
    expect(existsSync(join(dir, 'etc', 'outbox'))).toBe(true);
    // Secrets stay in the environment file: not in the unit, not in the output.
    expect(unit).not.toContain('s3cret');
    expect(c.out + c.err).not.toContain('s3cret');
    expect(c.out).not.toContain('run: systemctl');
    expect(c.out).toContain(
      'to start it: systemctl daemon-reload && systemctl enable --now dayi-agent-lab3-pc7.service',
    );
    expect(c.err).toContain('will run as root');

    const u = capture();
    expect(await uninstallService({ configFile, unitDir, enable: false, env, ...u.io })).toBe(0);
    expect(existsSync(unitFile)).toBe(false);
    expect(u.out).toContain('Removed dayi-agent-lab3-pc7');
    // The config and the outbox are left alone.
    expect(existsSync(configFile)).toBe(true);
    expect(existsSync(join(dir, 'etc', 'outbox'))).toBe(true);
  });

  it('leaves writable what the agent writes: the outbox and an OPC UA certificate folder', async () => {
    writeFileSync(
      configFile,
      AGENT_YAML.replace(
        '- { type: simulated, pattern: constant }',
        '- { type: simulated, pattern: constant }\n      - { type: opcua, endpoint: "opc.tcp://127.0.0.1:4840", profile: opcua-lads, certificateDir: ./pki }',
      ),
    );
    const c = capture();
    expect(await installService({ configFile, unitDir, enable: false, env, ...c.io }), c.err).toBe(0);
    const unit = readFileSync(join(unitDir, 'dayi-agent-lab3-pc7.service'), 'utf8');
    expect(unit).toContain(`ReadWritePaths=${join(dir, 'etc', 'outbox')} ${join(dir, 'etc', 'pki')}\n`);
    expect(existsSync(join(dir, 'etc', 'pki'))).toBe(true);
    // Under /tmp, a private /tmp would hide the config: none then.
    expect(unit).not.toContain('PrivateTmp');
  });

  it('refuses a config with errors before installing anything, naming the path', async () => {
    writeFileSync(configFile, AGENT_YAML.replace('type: simulated', 'type: simulatd'));
    const c = capture();
    expect(await installService({ configFile, unitDir, enable: false, env, ...c.io })).toBe(1);
    expect(c.err).toContain('nothing was installed');
    expect(c.err).toContain('instruments.0.inputs.0.type');
    expect(existsSync(unitDir)).toBe(false);
  });

  it('refuses when a secret variable is neither in the environment nor in the environment file', async () => {
    rmSync(join(dir, 'etc', 'agent.env'));
    const c = capture();
    expect(await installService({ configFile, unitDir, enable: false, env, ...c.io })).toBe(1);
    expect(c.err).toContain('environment variable DAYI_TEST_AGENT_PW is not set');
    expect(c.err).toContain(`NAME=value lines in ${join(dir, 'etc', 'agent.env')}`);
    expect(existsSync(unitDir)).toBe(false);
  });

  it('uses a given environment file, requires it, and warns when others can read it', async () => {
    const envFile = join(dir, 'secrets.env');
    writeFileSync(envFile, '# secrets\nexport DAYI_TEST_AGENT_PW="quoted pw"\n', { mode: 0o644 });
    const c = capture();
    expect(
      await installService({ configFile, envFile, unitDir, enable: false, env, user: 'dayi-test', ...c.io }),
    ).toBe(1);
    // chown to a user that does not exist fails, and says which step failed.
    expect(c.err).toMatch(/chown -R dayi-test .*outbox: exit code/);
    expect(c.err).toContain(`chmod 600 ${envFile}`);

    const ok = capture();
    expect(await installService({ configFile, envFile, unitDir, enable: false, env, ...ok.io })).toBe(0);
    expect(readFileSync(join(unitDir, 'dayi-agent-lab3-pc7.service'), 'utf8')).toContain(
      `EnvironmentFile=${envFile}\n`,
    );
    const missing = capture();
    expect(
      await installService({
        configFile,
        envFile: join(dir, 'nope.env'),
        unitDir,
        enable: false,
        env,
        ...missing.io,
      }),
    ).toBe(1);
    expect(missing.err).toContain('nope.env does not exist');
  });

  it('--dry-run prints the steps and the unit, and changes nothing', async () => {
    const c = capture();
    expect(
      await serviceCommand(
        'install',
        ['-c', configFile, '--unit-dir', unitDir, '--dry-run', '--user', 'dayi'],
        c.io,
      ),
    ).toBe(0);
    expect(c.out).toContain('Dry run: nothing is changed. The install would:');
    expect(c.out).toContain(`  create folder ${join(dir, 'etc', 'outbox')}`);
    expect(c.out).toContain(`  run: chown -R dayi ${join(dir, 'etc', 'outbox')}`);
    expect(c.out).toContain(`  write ${join(unitDir, 'dayi-agent-lab3-pc7.service')} (mode 0644)`);
    expect(c.out).toContain('  run: systemctl daemon-reload');
    expect(c.out).toContain('  run: systemctl enable --now dayi-agent-lab3-pc7.service');
    expect(c.out).toContain('User=dayi\n');
    expect(existsSync(unitDir)).toBe(false);
    expect(existsSync(join(dir, 'etc', 'outbox'))).toBe(false);

    const u = capture();
    expect(
      await serviceCommand('uninstall', ['-c', configFile, '--unit-dir', unitDir, '--dry-run'], u.io),
    ).toBe(0);
    expect(u.out).toContain('  run: systemctl disable --now dayi-agent-lab3-pc7.service');
    expect(u.out).toContain(`  remove ${join(unitDir, 'dayi-agent-lab3-pc7.service')}`);
  });

  it('uninstalls even when the config has broken since, by its agent id', async () => {
    const c = capture();
    expect(
      await serviceCommand('install', ['-c', configFile, '--unit-dir', unitDir, '--no-enable'], c.io),
    ).toBe(0);
    writeFileSync(configFile, AGENT_YAML.replace('instruments:', 'instrumentz:'));
    const u = capture();
    expect(
      await serviceCommand('uninstall', ['-c', configFile, '--unit-dir', unitDir, '--no-enable'], u.io),
    ).toBe(0);
    expect(readdirSync(unitDir)).toEqual([]);
    writeFileSync(configFile, 'not: [yaml');
    const bad = capture();
    expect(
      await serviceCommand('uninstall', ['-c', configFile, '--unit-dir', unitDir, '--no-enable'], bad.io),
    ).toBe(1);
    expect(bad.err).toContain('--name dayi-agent-<agent id>');
  });

  it('explains its options and refuses unknown ones', async () => {
    const h = capture();
    expect(await serviceCommand('install', ['--help'], h.io)).toBe(0);
    expect(h.out).toContain('--no-enable');
    const missing = capture();
    expect(await serviceCommand('install', [], missing.io)).toBe(2);
    expect(missing.err).toContain('-c agent.yaml is required');
    const unknown = capture();
    expect(await serviceCommand('install', ['-c', configFile, '--bogus'], unknown.io)).toBe(2);
    expect(unknown.err).toContain("Unknown option '--bogus'");
  });
});
