/**
 * `dayi agent install|uninstall -c agent.yaml`: registers the agent as a systemd unit (Linux) or a
 * Windows service (through WinSW), or removes it. The config is validated first: a service that
 * would crash-loop on a typo is not installed.
 *
 * For the CLI: `serviceCommand('install' | 'uninstall', argv)` parses its own options (see
 * serviceHelp) and resolves to the exit code; `installService(opts)` / `uninstallService(opts)`
 * take them already parsed. Both never throw for a user error: they print it and resolve to 1.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError } from '@dayi/protocols';
import { parse as parseYaml } from 'yaml';
import { staleBundleReason } from '../bundle-check.ts';
import { AGENT_ID_PATTERN, type AgentConfig, loadAgentConfig } from '../config.ts';
import { serviceEntry } from './node-flags.ts';
import { type Action, ActionError, describeAction, execute } from './plan.ts';
import {
  DEFAULT_UNIT_DIR,
  linuxInstallPlan,
  linuxUninstallPlan,
  type ServiceSpec,
  systemdUnit,
  unitFileName,
} from './systemd.ts';
import { WINSW_URL, windowsInstallPlan, windowsUninstallPlan, winswPaths, winswXml } from './windows.ts';

export { type Action, commandLine, describeAction } from './plan.ts';
export { DEFAULT_UNIT_DIR, execArg, type ServiceSpec, systemdUnit, unitFileName } from './systemd.ts';
export {
  WINSW_URL,
  WINSW_VERSION,
  type WindowsServiceSpec,
  windowsInstallPlan,
  winswXml,
} from './windows.ts';

export type ServicePlatform = 'linux' | 'win32';

export interface ServiceOptions {
  /** agent.yaml; made absolute. */
  configFile: string;
  /** Default: this machine's (linux or win32; others are refused). */
  platform?: ServicePlatform;
  /** Where the unit goes (Linux, default /etc/systemd/system) or the WinSW files (Windows, default %ProgramData%\dayi). */
  unitDir?: string;
  /** Print what would be done, change nothing. */
  dryRun?: boolean;
  /** false: write or remove the files only; run no systemctl / sc.exe. Default true. */
  enable?: boolean;
  /** Linux: the user the agent runs as (default root, with a warning). */
  user?: string;
  /** Linux: `KEY=value` lines for the config's ${VAR}. Default `<config folder>/agent.env`, used if present. */
  envFile?: string;
  /** Windows: a downloaded WinSW-x64.exe to copy in beside the XML. */
  winsw?: string;
  /** Service name; default `dayi-agent-<agent.id>`. */
  name?: string;
  /** The Node 24 that runs the agent; default this repository's, else the running one. */
  nodePath?: string;
  /** This repository; default found from this file. */
  repoDir?: string;
  env?: NodeJS.ProcessEnv;
  out?: (s: string) => void;
  err?: (s: string) => void;
}

/** The repository root: agent/src/service/ is three folders down. */
export const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url)).replace(/[\\/]$/, '');

function defaults(opts: ServiceOptions) {
  const platform =
    opts.platform ??
    (process.platform === 'win32' ? 'win32' : process.platform === 'linux' ? 'linux' : undefined);
  const p = platform === 'win32' ? path.win32 : path.posix;
  return {
    platform,
    p,
    out: opts.out ?? ((s: string) => void process.stdout.write(s)),
    err: opts.err ?? ((s: string) => void process.stderr.write(s)),
    repoDir: opts.repoDir ?? REPO_DIR,
    env: opts.env ?? process.env,
    enable: opts.enable ?? true,
  };
}

/** This repository's Node 24 (node_modules/.bin/node resolved), or the Node running now. */
export function defaultNodePath(repoDir: string, platform: ServicePlatform): string {
  const candidates =
    platform === 'win32'
      ? [path.win32.join(repoDir, 'node_modules', 'node', 'bin', 'node.exe')]
      : [path.posix.join(repoDir, 'node_modules', '.bin', 'node')];
  for (const c of candidates) {
    if (existsSync(c)) return realpathSync(c);
  }
  return process.execPath;
}

/** Whether /etc/group lists `name` (systemd refuses SupplementaryGroups= naming a missing group). */
function hasGroup(name: string): boolean {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${name}:`));
  } catch {
    return true;
  }
}

/** `KEY=value` lines (optional `export `, quotes, `#` comments), as systemd's EnvironmentFile= reads them. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

interface Resolved {
  configFile: string;
  configDir: string;
  envFile?: string;
  envFileRequired: boolean;
}

function resolvePaths(opts: ServiceOptions, d: ReturnType<typeof defaults>): Resolved {
  const configFile = d.p.resolve(opts.configFile);
  const configDir = d.p.dirname(configFile);
  if (d.platform === 'win32') return { configFile, configDir, envFileRequired: false };
  if (opts.envFile)
    return { configFile, configDir, envFile: d.p.resolve(opts.envFile), envFileRequired: true };
  return { configFile, configDir, envFile: d.p.join(configDir, 'agent.env'), envFileRequired: false };
}

/**
 * Folders the agent writes, which the hardened unit must leave writable: the outbox, and the
 * folders inputs keep state in (the OPC UA client certificate's `certificateDir`, resolved, like
 * the input does, against the working directory, which is the config's folder).
 */
export function writablePathsOf(
  config: AgentConfig,
  workingDirectory: string,
  p: typeof path.posix,
): string[] {
  const paths = [config.outbox.dir];
  for (const inst of config.instruments) {
    for (const input of inst.inputs) {
      const dir = (input as { certificateDir?: unknown }).certificateDir;
      if (typeof dir === 'string') paths.push(p.resolve(workingDirectory, dir));
    }
  }
  return [...new Set(paths)];
}

/** Loads agent.yaml as the service will see it: with the environment file's variables. */
function loadForService(r: Resolved, d: ReturnType<typeof defaults>): AgentConfig {
  let env = d.env;
  if (r.envFile && existsSync(r.envFile)) {
    env = { ...d.env, ...parseEnvFile(readFileSync(r.envFile, 'utf8')) };
  } else if (r.envFile && r.envFileRequired) {
    throw new ConfigError(
      [{ path: '', message: `environment file ${r.envFile} does not exist` }],
      r.configFile,
    );
  }
  return loadAgentConfig(r.configFile, env);
}

function configErrorText(err: ConfigError, r: Resolved, platform: ServicePlatform): string {
  const missingVar = err.issues.some((i) => /environment variable/.test(i.message));
  const hint = !missingVar
    ? ''
    : platform === 'win32'
      ? '\nSet secrets as machine environment variables (setx /M NAME value) before installing.\n'
      : `\nPut the secrets as NAME=value lines in ${r.envFile} (chmod 600); the service reads them from there.\n`;
  return `dayi agent install: the configuration has errors; nothing was installed.\n${err.message}\n${hint}`;
}

function printPlan(
  actions: Action[],
  files: { path: string; content: string }[],
  out: (s: string) => void,
): void {
  out('Dry run: nothing is changed. The install would:\n');
  for (const a of actions) out(`  ${describeAction(a)}\n`);
  for (const f of files) out(`\n--- ${f.path}\n${f.content.replace(/\r\n/g, '\n')}`);
}

/** Installs the agent as a service. Resolves to an exit code. */
export async function installService(opts: ServiceOptions): Promise<number> {
  const d = defaults(opts);
  if (!d.platform) {
    d.err(
      `dayi agent install: services are supported on Linux (systemd) and Windows, not on ${process.platform}\n`,
    );
    return 1;
  }
  const r = resolvePaths(opts, d);
  let config: AgentConfig;
  try {
    config = loadForService(r, d);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    d.err(configErrorText(err, r, d.platform));
    return 1;
  }
  const name = opts.name ?? `dayi-agent-${config.agent.id}`;
  const nodePath = opts.nodePath ?? defaultNodePath(d.repoDir, d.platform);
  const { flags: nodeFlags, entry, bundle, bundled } = serviceEntry(d.repoDir, d.p);
  if (!bundled) {
    d.err(
      `warning: no agent bundle at ${bundle}: the service will run the sources, with more memory; build it with \`npm run build:agent\` (needs the dev dependencies), then install again\n`,
    );
  } else if (d.platform === process.platform) {
    const stale = staleBundleReason(pathToFileURL(bundle).href);
    if (stale)
      d.err(
        `warning: ${stale}: until \`npm run build:agent\` rebuilds it, the service will run the sources, with more memory\n`,
      );
  }

  let actions: Action[];
  let files: { path: string; content: string }[];
  let next: string[];
  if (d.platform === 'linux') {
    const unitDir = d.p.resolve(opts.unitDir ?? DEFAULT_UNIT_DIR);
    const spec: ServiceSpec = {
      name,
      agentId: config.agent.id,
      nodePath,
      nodeFlags,
      entry,
      configFile: r.configFile,
      workingDirectory: r.configDir,
      writablePaths: writablePathsOf(config, r.configDir, d.p),
      ...(r.envFile ? { envFile: r.envFile, envFileRequired: r.envFileRequired } : {}),
      ...(opts.user ? { user: opts.user } : {}),
      docs: `file://${d.p.join(d.repoDir, 'docs', 'agent-service.md')}`,
      serialGroup: hasGroup('dialout') ? 'dialout' : null,
    };
    if (spec.serialGroup === null)
      d.err('warning: no dialout group here; serial ports need their group given to the user\n');
    actions = linuxInstallPlan(spec, { unitDir, systemctl: d.enable });
    files = [{ path: d.p.join(unitDir, unitFileName(name)), content: systemdUnit(spec) }];
    if (!opts.user)
      d.err(
        'warning: the agent will run as root; give --user <name> (in the dialout group) to run it as a plain user\n',
      );
    if (r.envFile && existsSync(r.envFile) && (statSync(r.envFile).mode & 0o077) !== 0) {
      d.err(`warning: ${r.envFile} holds secrets and is readable by others: chmod 600 ${r.envFile}\n`);
    }
    next = d.enable
      ? [`Logs: journalctl -u ${name} -f`, `Status: systemctl status ${name}`]
      : [
          `Files written; to start it: systemctl daemon-reload && systemctl enable --now ${unitFileName(name)}`,
        ];
  } else {
    const serviceDir = d.p.resolve(opts.unitDir ?? d.p.join(d.env.ProgramData ?? 'C:\\ProgramData', 'dayi'));
    const spec = {
      name,
      agentId: config.agent.id,
      nodePath,
      nodeFlags,
      entry,
      configFile: r.configFile,
      workingDirectory: r.configDir,
      serviceDir,
    };
    const paths = winswPaths(spec);
    if (!opts.winsw && !existsSync(paths.exe) && !opts.dryRun && d.enable) {
      d.err(
        `dayi agent install: the service wrapper ${paths.exe} is missing. Download WinSW (${WINSW_URL}) and give it with --winsw C:\\path\\WinSW-x64.exe\n`,
      );
      return 1;
    }
    actions = windowsInstallPlan(spec, {
      sc: d.enable,
      ...(opts.winsw ? { winswExe: d.p.resolve(opts.winsw) } : {}),
    });
    files = [{ path: paths.xml, content: winswXml(spec) }];
    next = d.enable
      ? [`Logs: ${paths.logs}`, `Status: sc.exe query ${name}`]
      : [`Files written; to register it: sc.exe create ${name} binPath= "${paths.exe}" start= delayed-auto`];
  }

  if (opts.dryRun) {
    printPlan(actions, files, d.out);
    return 0;
  }
  try {
    execute(actions, (line) => d.out(`${line}\n`));
  } catch (err) {
    if (!(err instanceof ActionError)) throw err;
    d.err(`dayi agent install: ${err.message}\n`);
    return 1;
  }
  d.out(`Installed ${name}.\n${next.join('\n')}\n`);
  return 0;
}

/**
 * The service name for uninstall: from the config if it loads, else from its `agent.id` alone, so
 * a config broken since install can still be removed.
 */
function serviceNameOf(r: Resolved, d: ReturnType<typeof defaults>): string {
  try {
    return `dayi-agent-${loadForService(r, d).agent.id}`;
  } catch (err) {
    let id: unknown;
    try {
      id = (parseYaml(readFileSync(r.configFile, 'utf8')) as { agent?: { id?: unknown } } | null)?.agent?.id;
    } catch {
      id = undefined;
    }
    if (typeof id === 'string' && AGENT_ID_PATTERN.test(id)) return `dayi-agent-${id}`;
    throw err;
  }
}

/** Stops and removes the service. Resolves to an exit code. */
export async function uninstallService(opts: ServiceOptions): Promise<number> {
  const d = defaults(opts);
  if (!d.platform) {
    d.err(
      `dayi agent uninstall: services are supported on Linux (systemd) and Windows, not on ${process.platform}\n`,
    );
    return 1;
  }
  const r = resolvePaths(opts, d);
  let name = opts.name;
  if (!name) {
    try {
      name = serviceNameOf(r, d);
    } catch (err) {
      d.err(
        `dayi agent uninstall: cannot tell the service name from ${r.configFile} (${(err as Error).message.split('\n')[0]}); give it with --name dayi-agent-<agent id>\n`,
      );
      return 1;
    }
  }
  const actions =
    d.platform === 'linux'
      ? linuxUninstallPlan(name, {
          unitDir: d.p.resolve(opts.unitDir ?? DEFAULT_UNIT_DIR),
          systemctl: d.enable,
        })
      : windowsUninstallPlan(
          {
            name,
            serviceDir: d.p.resolve(opts.unitDir ?? d.p.join(d.env.ProgramData ?? 'C:\\ProgramData', 'dayi')),
          },
          { sc: d.enable },
        );
  if (opts.dryRun) {
    d.out('Dry run: nothing is changed. The uninstall would:\n');
    for (const a of actions) d.out(`  ${describeAction(a)}\n`);
    return 0;
  }
  try {
    execute(actions, (line) => d.out(`${line}\n`));
  } catch (err) {
    if (!(err instanceof ActionError)) throw err;
    d.err(`dayi agent uninstall: ${err.message}\n`);
    return 1;
  }
  d.out(`Removed ${name}. The outbox and the config are left in place.\n`);
  return 0;
}

/** The help of `dayi agent install` or `dayi agent uninstall`: each its own. */
export function serviceHelp(sub: 'install' | 'uninstall'): string {
  const what =
    sub === 'install'
      ? `Usage: dayi agent install -c agent.yaml [options]

Registers the agent as a service and starts it: a systemd unit on Linux, a Windows service
(through WinSW) on Windows. The config is checked first; the service runs the agent bundle
(agent/dist/dayi-agent.mjs) and restarts it if it stops.
`
      : `Usage: dayi agent uninstall -c agent.yaml [options]

Stops and removes the service that \`dayi agent install\` registered for this config. The outbox
(messages not yet acknowledged) and the config are left in place.
`;
  return `${what}\n${SERVICE_OPTIONS_HELP}`;
}

const SERVICE_OPTIONS_HELP = `Options:
  -c, --config FILE     the agent configuration (made absolute; validated before installing)
  --user NAME           Linux: run as this user (add it to the dialout group for serial ports)
  --env-file FILE       Linux: NAME=value lines for the config's \${VAR} secrets
                        (default: agent.env beside the config, if present)
  --unit-dir DIR        where the unit goes (default /etc/systemd/system), or on Windows the
                        WinSW files (default %ProgramData%\\dayi)
  --winsw FILE          Windows: the WinSW-x64.exe to use as the service wrapper
  --name NAME           service name (default dayi-agent-<agent.id>)
  --no-enable           write the files only; do not run systemctl / sc.exe
  --dry-run             print what would be done, change nothing
  -h, --help            this help

See docs/agent-service.md.
`;

/** parseArgs options of install/uninstall, for a CLI that parses them itself. */
export const SERVICE_CLI_OPTIONS = {
  config: { type: 'string', short: 'c' },
  user: { type: 'string' },
  'env-file': { type: 'string' },
  'unit-dir': { type: 'string' },
  winsw: { type: 'string' },
  name: { type: 'string' },
  'no-enable': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `dayi agent install|uninstall …`: `argv` is everything after the subcommand. */
export async function serviceCommand(
  sub: 'install' | 'uninstall',
  argv: string[],
  io: { out?: (s: string) => void; err?: (s: string) => void } = {},
): Promise<number> {
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  const err = io.err ?? ((s: string) => void process.stderr.write(s));
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof SERVICE_CLI_OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: SERVICE_CLI_OPTIONS, allowPositionals: false }));
  } catch (e) {
    err(`dayi agent ${sub}: ${(e as Error).message}\n\n${serviceHelp(sub)}`);
    return 2;
  }
  if (values.help) {
    out(serviceHelp(sub));
    return 0;
  }
  if (!values.config) {
    err(`dayi agent ${sub}: -c agent.yaml is required\n\n${serviceHelp(sub)}`);
    return 2;
  }
  const opts: ServiceOptions = {
    configFile: values.config,
    out,
    err,
    ...(values.user ? { user: values.user } : {}),
    ...(values['env-file'] ? { envFile: values['env-file'] } : {}),
    ...(values['unit-dir'] ? { unitDir: values['unit-dir'] } : {}),
    ...(values.winsw ? { winsw: values.winsw } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values['no-enable'] ? { enable: false } : {}),
    ...(values['dry-run'] ? { dryRun: true } : {}),
  };
  return sub === 'install' ? installService(opts) : uninstallService(opts);
}
