/**
 * The Windows service, through WinSW (github.com/winsw/winsw, MIT): Node is not a native Windows
 * service (it does not answer the Service Control Manager), so a wrapper must. WinSW is one small
 * .exe configured by an XML file of the same name beside it; it starts Node, restarts it when it
 * dies, stops it on service stop, and keeps rolling log files. We generate that XML and register the
 * wrapper with `sc.exe`. Pure: paths are Windows paths given by the caller.
 *
 * Why not node-windows: its published versions are old betas built around the same WinSW inside,
 * with an extra JavaScript restart loop on top, and it needs to be loaded by the install script at
 * run time. A generated XML is plain to review, and the same file can be used by hand.
 */
import { win32 } from 'node:path';
import { AGENT_SERVICE_ENV } from './node-flags.ts';
import type { Action } from './plan.ts';

/** The WinSW release the docs point to (v2 reads `<name>.xml` beside `<name>.exe`). */
export const WINSW_VERSION = '2.12.0';
export const WINSW_URL = `https://github.com/winsw/winsw/releases/download/v${WINSW_VERSION}/WinSW-x64.exe`;
/** Delays of the SCM's own restart actions, when WinSW itself dies. */
const SC_FAILURE_ACTIONS = 'restart/5000/restart/5000/restart/30000';

export interface WindowsServiceSpec {
  name: string;
  agentId: string;
  nodePath: string;
  /** Node's flags and the script it runs with its arguments before `-c config` (see serviceEntry). */
  nodeFlags: readonly string[];
  entry: string[];
  configFile: string;
  workingDirectory: string;
  /** Folder holding `<name>.exe`, `<name>.xml` and `logs\`. */
  serviceDir: string;
}

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A Windows command-line argument (CommandLineToArgvW rules): quoted when it holds spaces. */
export function winArg(a: string): string {
  if (a !== '' && !/[\s"]/.test(a)) return a;
  return `"${a.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`;
}

export function winswPaths(s: Pick<WindowsServiceSpec, 'name' | 'serviceDir'>): {
  exe: string;
  xml: string;
  logs: string;
} {
  return {
    exe: win32.join(s.serviceDir, `${s.name}.exe`),
    xml: win32.join(s.serviceDir, `${s.name}.xml`),
    logs: win32.join(s.serviceDir, 'logs'),
  };
}

/** WinSW v2 configuration. Secrets are not in it: see docs/agent-service.md (machine environment). */
export function winswXml(s: WindowsServiceSpec): string {
  const args = [...s.nodeFlags, ...s.entry, '-c', s.configFile].map(winArg).join(' ');
  const x = escapeXml;
  return [
    '<!-- dayi edge agent, written by `dayi agent install`. WinSW reads this file as <id>.xml beside <id>.exe. -->',
    '<service>',
    `  <id>${x(s.name)}</id>`,
    `  <name>dayi agent ${x(s.agentId)}</name>`,
    `  <description>dayi edge agent ${x(s.agentId)}: reads instrument power and publishes its state over MQTT. Config: ${x(s.configFile)}</description>`,
    `  <executable>${x(s.nodePath)}</executable>`,
    `  <arguments>${x(args)}</arguments>`,
    `  <workingdirectory>${x(s.workingDirectory)}</workingdirectory>`,
    '  <startmode>Automatic</startmode>',
    '  <delayedAutoStart>true</delayedAutoStart>',
    ...Object.entries(AGENT_SERVICE_ENV).map(([k, v]) => `  <env name="${x(k)}" value="${x(v)}"/>`),
    // The agent exits only on a fatal error; restart it, as systemd's Restart=always does.
    '  <onfailure action="restart" delay="5 sec"/>',
    '  <resetfailure>1 hour</resetfailure>',
    // Ctrl+C reaches Node as SIGINT: the agent closes its sessions and outbox.
    '  <stoptimeout>30 sec</stoptimeout>',
    `  <logpath>${x(winswPaths(s).logs)}</logpath>`,
    '  <log mode="roll-by-size">',
    '    <sizeThreshold>10240</sizeThreshold>',
    '    <keepFiles>8</keepFiles>',
    '  </log>',
    '</service>',
    '',
  ].join('\r\n');
}

export interface WindowsPlanOptions {
  /** A WinSW executable to copy in as `<name>.exe`; absent: it must already be there. */
  winswExe?: string;
  /** false: write files only, touch no sc.exe. */
  sc: boolean;
}

export function windowsInstallPlan(s: WindowsServiceSpec, o: WindowsPlanOptions): Action[] {
  const p = winswPaths(s);
  const actions: Action[] = [{ kind: 'mkdir', path: p.logs }];
  if (o.winswExe) actions.push({ kind: 'copy', from: o.winswExe, to: p.exe });
  actions.push({ kind: 'write', path: p.xml, content: winswXml(s), mode: 0o644 });
  if (o.sc) {
    // sc.exe wants `key= value` as two arguments, the space after `=` included.
    actions.push({
      kind: 'run',
      command: 'sc.exe',
      args: [
        'create',
        s.name,
        'binPath=',
        winArg(p.exe),
        'start=',
        'delayed-auto',
        'DisplayName=',
        `dayi agent ${s.agentId}`,
      ],
    });
    actions.push({
      kind: 'run',
      command: 'sc.exe',
      args: ['description', s.name, `dayi edge agent ${s.agentId} (${s.configFile})`],
    });
    actions.push({
      kind: 'run',
      command: 'sc.exe',
      args: ['failure', s.name, 'reset=', '86400', 'actions=', SC_FAILURE_ACTIONS],
    });
    actions.push({ kind: 'run', command: 'sc.exe', args: ['start', s.name] });
  }
  return actions;
}

export function windowsUninstallPlan(
  s: Pick<WindowsServiceSpec, 'name' | 'serviceDir'>,
  o: { sc: boolean },
): Action[] {
  const p = winswPaths(s);
  const actions: Action[] = [];
  if (o.sc) {
    // 1062: not started; 1060: no such service. Both are fine when removing.
    actions.push({ kind: 'run', command: 'sc.exe', args: ['stop', s.name], okExitCodes: [1060, 1062] });
    actions.push({ kind: 'run', command: 'sc.exe', args: ['delete', s.name], okExitCodes: [1060] });
  }
  actions.push({ kind: 'remove', path: p.xml });
  actions.push({ kind: 'remove', path: p.exe });
  return actions;
}
