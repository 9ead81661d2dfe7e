import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServiceSpec, systemdUnit } from '../src/service/index.ts';
import { serviceEntry } from '../src/service/node-flags.ts';
import { execArg, linuxInstallPlan, linuxUninstallPlan } from '../src/service/systemd.ts';

const spec: ServiceSpec = {
  name: 'dayi-agent-lab3-pc7',
  agentId: 'lab3-pc7',
  nodePath: '/opt/dayi/node_modules/node/bin/node',
  nodeFlags: ['--lite-mode'],
  entry: ['/opt/dayi/agent/dist/dayi-agent.mjs'],
  configFile: '/etc/dayi/agent.yaml',
  workingDirectory: '/etc/dayi',
  writablePaths: ['/var/lib/dayi/outbox'],
  envFile: '/etc/dayi/agent.env',
  envFileRequired: false,
  user: 'dayi',
  docs: 'file:///opt/dayi/docs/agent-service.md',
};

const GOLDEN = `# dayi edge agent lab3-pc7, written by \`dayi agent install\`.
# Remove it with: dayi agent uninstall -c /etc/dayi/agent.yaml
[Unit]
Description=dayi edge agent lab3-pc7 (/etc/dayi/agent.yaml)
Documentation=file:///opt/dayi/docs/agent-service.md
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/opt/dayi/node_modules/node/bin/node --lite-mode /opt/dayi/agent/dist/dayi-agent.mjs -c /etc/dayi/agent.yaml
WorkingDirectory=/etc/dayi
EnvironmentFile=-/etc/dayi/agent.env
Environment=NODE_ENV=production
Environment=MALLOC_TRIM_THRESHOLD_=0
Environment=MALLOC_MMAP_THRESHOLD_=32768
User=dayi
SupplementaryGroups=dialout
Restart=always
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=30
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=/var/lib/dayi/outbox
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`;

describe('systemd unit', () => {
  it('matches the golden unit', () => {
    expect(systemdUnit(spec)).toBe(GOLDEN);
  });

  it('runs the agent bundle when it is built, else the sources through bin/dayi.js', () => {
    const built = serviceEntry('/opt/dayi', posix, (f) => f === '/opt/dayi/agent/dist/dayi-agent.mjs');
    expect(built).toMatchObject({
      flags: ['--lite-mode'],
      entry: ['/opt/dayi/agent/dist/dayi-agent.mjs'],
      bundled: true,
    });
    const sources = serviceEntry('/opt/dayi', posix, () => false);
    expect(sources).toMatchObject({ entry: ['/opt/dayi/bin/dayi.js', 'agent'], bundled: false });
    // The sources need WebAssembly (type stripping), which lite mode leaves out.
    expect(systemdUnit({ ...spec, nodeFlags: sources.flags, entry: sources.entry })).toContain(
      'ExecStart=/opt/dayi/node_modules/node/bin/node --max-semi-space-size=1 /opt/dayi/bin/dayi.js agent -c /etc/dayi/agent.yaml\n',
    );
  });

  it('never holds secrets: they come from the environment file', () => {
    expect(systemdUnit(spec)).not.toMatch(/password|PW=|token/i);
    const noEnv = systemdUnit({ ...spec, envFile: undefined, user: undefined });
    expect(noEnv).not.toContain('EnvironmentFile');
    expect(noEnv).not.toContain('User=');
    expect(systemdUnit({ ...spec, envFileRequired: true })).toContain(
      'EnvironmentFile=/etc/dayi/agent.env\n',
    );
  });

  it('keeps serial ports reachable', () => {
    const unit = systemdUnit(spec);
    expect(unit).toContain('SupplementaryGroups=dialout');
    expect(unit).not.toMatch(/PrivateDevices|DevicePolicy=closed|DeviceAllow/);
    // A system without that group: systemd would refuse to start the unit, so the line is left out.
    expect(systemdUnit({ ...spec, serialGroup: null })).not.toContain('SupplementaryGroups');
    expect(systemdUnit({ ...spec, serialGroup: 'uucp' })).toContain('SupplementaryGroups=uucp\n');
  });

  it('keeps a private /tmp unless the config or outbox live there', () => {
    expect(systemdUnit(spec)).toContain('PrivateTmp=yes');
    expect(systemdUnit({ ...spec, writablePaths: ['/tmp/dayi/outbox'] })).not.toContain('PrivateTmp');
    expect(systemdUnit({ ...spec, configFile: '/var/tmp/agent.yaml' })).not.toContain('PrivateTmp');
    expect(systemdUnit({ ...spec, configFile: '/srv/tmpfiles/agent.yaml' })).toContain('PrivateTmp=yes');
  });

  it('quotes and escapes paths with spaces, percent and dollar signs', () => {
    expect(execArg('/plain/path')).toBe('/plain/path');
    expect(execArg('/my lab/agent.yaml')).toBe('"/my lab/agent.yaml"');
    expect(execArg('/100%/a$b')).toBe('/100%%/a$$b');
    const unit = systemdUnit({
      ...spec,
      configFile: '/srv/my lab/agent.yaml',
      writablePaths: ['/srv/my lab/outbox'],
    });
    expect(unit).toContain('-c "/srv/my lab/agent.yaml"\n');
    expect(unit).toContain('ReadWritePaths="/srv/my lab/outbox"\n');
  });

  it('is accepted by systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-unit-'));
    try {
      const file = join(dir, 'dayi-agent-lab3-pc7.service');
      // Real paths, so verify can check that ExecStart's program exists.
      writeFileSync(
        file,
        systemdUnit({
          ...spec,
          nodePath: process.execPath,
          user: undefined,
          writablePaths: [dir],
          workingDirectory: dir,
        }),
      );
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(r.error, 'systemd-analyze must be installed (package systemd)').toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/Unknown key|Invalid|Failed|bad-setting/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plans install and uninstall steps in order', () => {
    const install = linuxInstallPlan(spec, { unitDir: '/etc/systemd/system', systemctl: true });
    expect(
      install.map((a) =>
        a.kind === 'run' ? `${a.command} ${a.args.join(' ')}` : `${a.kind} ${'path' in a ? a.path : ''}`,
      ),
    ).toEqual([
      'mkdir /var/lib/dayi/outbox',
      'chown -R dayi /var/lib/dayi/outbox',
      'write /etc/systemd/system/dayi-agent-lab3-pc7.service',
      'systemctl daemon-reload',
      'systemctl enable --now dayi-agent-lab3-pc7.service',
    ]);
    expect(
      linuxInstallPlan(spec, { unitDir: '/u', systemctl: false }).some(
        (a) => a.kind === 'run' && a.command === 'systemctl',
      ),
    ).toBe(false);
    expect(
      linuxUninstallPlan('dayi-agent-lab3-pc7', { unitDir: '/etc/systemd/system', systemctl: true }).map(
        (a) =>
          a.kind === 'run' ? `${a.command} ${a.args.join(' ')}` : `${a.kind} ${'path' in a ? a.path : ''}`,
      ),
    ).toEqual([
      'systemctl disable --now dayi-agent-lab3-pc7.service',
      'remove /etc/systemd/system/dayi-agent-lab3-pc7.service',
      'systemctl daemon-reload',
    ]);
  });
});
