/**
 * The systemd unit that runs the agent on Linux, and the steps to install and remove it. Pure.
 *
 * Choices, and why:
 * - ExecStart runs this repository's own Node 24, with absolute paths (systemd has no PATH worth
 *   relying on, and the system Node may be older), on the agent bundle `npm ci` builds
 *   (agent/dist/dayi-agent.mjs; `bin/dayi.js agent` if there is none), with the flags and
 *   environment of ./node-flags.ts: what keeps the agent under its memory goal.
 * - Secrets stay out of the unit (units are world-readable): `${VAR}` in agent.yaml is filled from
 *   `EnvironmentFile=`, a file only root (and the service) can read.
 * - Restart=always with a short RestartSec: the outbox keeps every message, so a restart loses
 *   nothing, and an agent that is not running measures nothing. StartLimitIntervalSec=0 keeps
 *   systemd from giving up after a burst of failures (a broker down for an hour, say).
 * - Hardening that leaves serial ports usable: no PrivateDevices (it would hide /dev/ttyUSB0),
 *   SupplementaryGroups=dialout for the ports, the file system read-only except the outbox.
 */

import { AGENT_SERVICE_ENV } from './node-flags.ts';
import type { Action } from './plan.ts';

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
/** Seconds systemd waits before restarting a stopped agent. */
export const RESTART_SEC = 5;

export interface ServiceSpec {
  /** Service name without suffix: `dayi-agent-<agent id>`. */
  name: string;
  agentId: string;
  /** Absolute paths. */
  nodePath: string;
  /** Node's flags and the script it runs with its arguments before `-c config` (see serviceEntry). */
  nodeFlags: readonly string[];
  entry: string[];
  configFile: string;
  workingDirectory: string;
  /** Folders the agent writes (the outbox). */
  writablePaths: string[];
  /** `${VAR}` values for agent.yaml; absent: no environment file. */
  envFile?: string;
  /** true: the agent does not start without the environment file. */
  envFileRequired?: boolean;
  /**
   * Group owning the serial ports (`dialout` on Debian, Ubuntu, Fedora); null when the system has
   * none, since systemd refuses to start a unit naming a missing group.
   */
  serialGroup?: string | null;
  /** Unix user the agent runs as; absent: root. */
  user?: string;
  docs?: string;
}

/** systemd's own escaping: `%` starts a specifier and `$` a variable, so both are doubled. */
function escapeValue(v: string): string {
  return v.replace(/%/g, '%%');
}

/** One ExecStart argument: quoted when it holds spaces or quotes, `$` doubled. */
export function execArg(arg: string): string {
  const e = escapeValue(arg).replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(e) || e === '' ? `"${e.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : e;
}

/** A space-separated path list entry (ReadWritePaths=): quoted when it holds spaces. */
function pathItem(p: string): string {
  const e = escapeValue(p);
  return /\s/.test(e) ? `"${e}"` : e;
}

function usesTmp(s: ServiceSpec): boolean {
  const paths = [s.configFile, s.workingDirectory, ...s.writablePaths, ...(s.envFile ? [s.envFile] : [])];
  return paths.some((p) => /^\/(var\/)?tmp(\/|$)/.test(p));
}

export function unitFileName(name: string): string {
  return `${name}.service`;
}

export function systemdUnit(s: ServiceSpec): string {
  const lines = [
    `# dayi edge agent ${s.agentId}, written by \`dayi agent install\`.`,
    `# Remove it with: dayi agent uninstall -c ${s.configFile}`,
    '[Unit]',
    `Description=dayi edge agent ${s.agentId} (${escapeValue(s.configFile)})`,
    ...(s.docs ? [`Documentation=${escapeValue(s.docs)}`] : []),
    'After=network-online.target',
    'Wants=network-online.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[s.nodePath, ...s.nodeFlags, ...s.entry, '-c', s.configFile].map(execArg).join(' ')}`,
    `WorkingDirectory=${escapeValue(s.workingDirectory)}`,
    ...(s.envFile ? [`EnvironmentFile=${s.envFileRequired ? '' : '-'}${escapeValue(s.envFile)}`] : []),
    ...Object.entries(AGENT_SERVICE_ENV).map(([k, v]) => `Environment=${k}=${escapeValue(v)}`),
    ...(s.user ? [`User=${s.user}`] : []),
    ...(s.serialGroup === null ? [] : [`SupplementaryGroups=${s.serialGroup ?? 'dialout'}`]),
    'Restart=always',
    `RestartSec=${RESTART_SEC}`,
    // SIGTERM lets the agent close its MQTT sessions and outbox; give it time before SIGKILL.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    ...(s.writablePaths.length > 0 ? [`ReadWritePaths=${s.writablePaths.map(pathItem).join(' ')}`] : []),
    // A private /tmp would hide a config or outbox kept under /tmp.
    ...(usesTmp(s) ? [] : ['PrivateTmp=yes']),
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'LockPersonality=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

export interface LinuxPlanOptions {
  unitDir: string;
  /** false: write files only, touch no systemctl. */
  systemctl: boolean;
}

export function linuxInstallPlan(s: ServiceSpec, o: LinuxPlanOptions): Action[] {
  const unit = `${o.unitDir}/${unitFileName(s.name)}`;
  const actions: Action[] = [];
  // ReadWritePaths= needs the folders to exist, or the service fails to start (226/NAMESPACE).
  for (const p of s.writablePaths) actions.push({ kind: 'mkdir', path: p });
  if (s.user) {
    for (const p of s.writablePaths) actions.push({ kind: 'run', command: 'chown', args: ['-R', s.user, p] });
  }
  actions.push({ kind: 'write', path: unit, content: systemdUnit(s), mode: 0o644 });
  if (o.systemctl) {
    actions.push({ kind: 'run', command: 'systemctl', args: ['daemon-reload'] });
    actions.push({ kind: 'run', command: 'systemctl', args: ['enable', '--now', unitFileName(s.name)] });
  }
  return actions;
}

export function linuxUninstallPlan(name: string, o: LinuxPlanOptions): Action[] {
  const unit = unitFileName(name);
  const actions: Action[] = [];
  // Exit code 5 ("unit not loaded"): already gone, which is what uninstall wants.
  if (o.systemctl)
    actions.push({
      kind: 'run',
      command: 'systemctl',
      args: ['disable', '--now', unit],
      okExitCodes: [1, 5],
    });
  actions.push({ kind: 'remove', path: `${o.unitDir}/${unit}` });
  if (o.systemctl) actions.push({ kind: 'run', command: 'systemctl', args: ['daemon-reload'] });
  return actions;
}
