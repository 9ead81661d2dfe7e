import { parseArgs } from 'node:util';
import { ConfigError } from '@dayi/protocols';
import { type AgentConfig, exposedSecretsWarning, loadAgentConfig } from './config.ts';
import type { Handoff } from './handoff.ts';
import { tableProfiles } from './inputs/profiles.ts';
import { INPUT_TYPES } from './inputs/schemas.ts';
import { runAgent } from './run.ts';

const HELP = `Usage:
  dayi agent -c agent.yaml               run the edge agent (Ctrl-C or SIGTERM stops it cleanly)
  dayi agent install -c agent.yaml       register it as a systemd unit (Linux) or Windows service
  dayi agent uninstall -c agent.yaml     remove that service (both: --help for their options)
  dayi agent calibrate -c agent.yaml --instrument ID --duration 2h
                                         record the signal and suggest state thresholds
                                         (or from a file: --from-csv FILE; --help for more)
  dayi agent status -c agent.yaml        per instrument: connection, outbox backlog, the last
                                         message the collector refused and why (--help: more)

Options:
  -c, --config FILE   the agent configuration (YAML; \${VAR} is taken from the environment)
  -h, --help          this help

The agent reads each instrument's inputs (${INPUT_TYPES.join(', ')}), decides its state
(off, standby, idle, running, fault), keeps every message in a disk outbox until the broker
acknowledges it, and publishes over MQTT on dayi/v1/{id}/telemetry|state|status|event.
Check a config without running it: dayi config check agent.yaml
`;

const SUBCOMMANDS = ['run', 'install', 'uninstall', 'status'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export interface AgentCommandOptions {
  /**
   * For `dayi agent -c` (run): once the config is checked, hand it with its profiles to a process
   * that replaces this one (./handoff.ts); returns only if that failed. Without it, or if it fails,
   * the agent runs in this process.
   */
  handOff?: (h: Handoff) => void;
}

/** `dayi agent …`: resolves to the process exit code. */
export async function agentCommand(
  argv: string[],
  io: Io = stdio,
  opts: AgentCommandOptions = {},
): Promise<number> {
  const first = argv.find((a) => !a.startsWith('-'));
  if ((first === 'install' || first === 'uninstall') && argv[0] === first) {
    // The service module parses its own options (--user, --env-file, --dry-run, …).
    const mod = await import('./service/index.ts');
    return mod.serviceCommand(first, argv.slice(1), { out: io.out, err: io.err });
  }
  // `calibrate` anywhere as a word of its own (not the value of -c): it has its own options and help.
  const at = argv.findIndex(
    (a, i) => a === 'calibrate' && argv[i - 1] !== '-c' && argv[i - 1] !== '--config',
  );
  if (at >= 0) {
    const mod = await import('./calibrate/cli.ts');
    return mod.calibrateCommand([...argv.slice(0, at), ...argv.slice(at + 1)], io);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`dayi agent: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const sub = (positionals[0] ?? 'run') as Subcommand;
  if (values.help && sub === 'status') {
    io.out((await import('./status.ts')).STATUS_HELP);
    return 0;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (!SUBCOMMANDS.includes(sub) || positionals.length > 1) {
    io.err(`dayi agent: unknown command ${JSON.stringify(positionals.join(' '))}\n\n${HELP}`);
    return 2;
  }
  if (!values.config) {
    io.err(`dayi agent${sub === 'run' ? '' : ` ${sub}`}: -c agent.yaml is required\n\n${HELP}`);
    return 2;
  }
  if (values.json && sub !== 'status') {
    io.err(`dayi agent: --json is an option of status\n\n${HELP}`);
    return 2;
  }
  if (sub === 'install' || sub === 'uninstall') {
    io.err(`dayi agent: put ${sub} first: dayi agent ${sub} -c agent.yaml\n`);
    return 2;
  }

  let config: AgentConfig;
  try {
    config = loadAgentConfig(values.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    return 1;
  }
  const exposed = exposedSecretsWarning(values.config);
  if (exposed) io.err(`dayi agent: warning: ${exposed}\n`);

  if (sub === 'status') {
    const { statusCommand } = await import('./status.ts');
    return statusCommand(config, { json: values.json === true }, io);
  }

  if (opts.handOff) {
    const { diskProfiles, profileTable } = await import('./inputs/profiles-load.ts');
    const profiles = profileTable(config.instruments, diskProfiles(config.profilesDir));
    try {
      opts.handOff({ config, profiles });
    } catch (err) {
      io.err(`dayi agent: running in this process (more memory): ${(err as Error).message}\n`);
    }
    return runAgent(config, io, { profiles: tableProfiles(profiles) });
  }
  return runAgent(config, io);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
