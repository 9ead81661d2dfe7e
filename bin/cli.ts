import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AgentConfig } from '@dayi/agent/config.ts';
import { ConfigError, type ConfigIssue, parseConfig } from '@dayi/protocols';
import { parse as parseYaml } from 'yaml';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const HELP = `dayi ${VERSION}: how shared large research instruments (大仪) are really used

Usage:
  dayi collector -c collector.yaml     run the collector (MQTT broker, ingest, REST API)
  dayi agent -c agent.yaml             run the edge agent beside an instrument
  dayi agent install -c agent.yaml     register the agent as a systemd unit or Windows service
  dayi agent calibrate -c agent.yaml --instrument ID --duration 2h
                                       record the signal and suggest state thresholds
                                       (--from-csv FILE: from a recording; --help for more)
  dayi config check FILE               validate an agent or collector config; prints every error
  dayi demo                            collector + simulated instruments on this machine
  dayi --version

Each command explains itself with --help (e.g. dayi collector --help).
Docs: README.md, docs/configuration.md, docs/api.md, docs/architecture.md
`;

const CONFIG_HELP = `Usage: dayi config check FILE [--kind agent|collector]

Validates an agent or a collector configuration without starting anything.
The kind is taken from the file (an \`agent:\` section means an agent config) unless --kind is given.
\${VAR} is replaced from the environment; a variable that is not set is an error.
Prints every problem with its path (e.g. instruments.0.inputs.0.type) and exits 1 if there is any.
`;

type Kind = 'agent' | 'collector';

async function configCheck(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  const kindIdx = argv.indexOf('--kind');
  let kind = kindIdx >= 0 ? argv[kindIdx + 1] : undefined;
  const files = argv.filter(
    (a, i) => !a.startsWith('-') && (kindIdx < 0 || (i !== kindIdx + 1 && i !== kindIdx)),
  );
  if (files.length !== 1 || (kind !== undefined && kind !== 'agent' && kind !== 'collector')) {
    process.stderr.write(CONFIG_HELP);
    return 2;
  }
  const file = files[0]!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`${file}: cannot read: ${(err as Error).message}\n`);
    return 1;
  }
  if (kind === undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch {
      doc = undefined; // parseConfig below reports the YAML error with its position
    }
    kind = doc && typeof doc === 'object' && 'agent' in doc ? 'agent' : 'collector';
  }
  const schema =
    kind === 'agent'
      ? (await import('@dayi/agent/config.ts')).agentConfigSchema
      : (await import('@dayi/collector/config.ts')).collectorConfigSchema;
  let issues: ConfigIssue[] = [];
  try {
    const config = parseConfig(text, schema, { file });
    if (kind === 'agent') issues = await agentInputIssues(config as AgentConfig, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues = err.issues;
  }
  if (issues.length > 0) {
    process.stderr.write(
      `${file}: ${issues.length} error${issues.length === 1 ? '' : 's'} in ${kind} config\n`,
    );
    for (const i of issues) process.stderr.write(`  ${i.path || '(root)'}: ${i.message}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid ${kind as Kind} config\n`);
  return 0;
}

/**
 * What the schema alone cannot see: a Modbus input's profile must exist in the profiles folder
 * (resolved against the config file, as the agent does) and its registers must fit in requests.
 */
async function agentInputIssues(config: AgentConfig, file: string): Promise<ConfigIssue[]> {
  const { checkModbusInput } = await import('@dayi/agent/inputs/modbus/index.ts');
  const { listModbusProfiles } = await import('@dayi/agent/inputs/modbus/profiles.ts');
  const { diskProfiles } = await import('@dayi/agent/inputs/profiles-load.ts');
  const profilesDir = resolve(dirname(resolve(file)), config.profilesDir);
  const profiles = diskProfiles(profilesDir);
  const issues: ConfigIssue[] = [];
  config.instruments.forEach((inst, i) => {
    inst.inputs.forEach((input, j) => {
      if (input.type !== 'modbus') return;
      const known = listModbusProfiles(profilesDir);
      if (input.profile && !known.includes(input.profile)) {
        issues.push({
          path: `instruments.${i}.inputs.${j}.profile`,
          message: `unknown Modbus profile ${JSON.stringify(input.profile)}; ${profilesDir}/modbus/ has ${known.join(', ') || 'none'}`,
        });
        return;
      }
      for (const issue of checkModbusInput(input, profiles)) {
        issues.push({ path: `instruments.${i}.inputs.${j}.${issue.path}`, message: issue.message });
      }
    });
  });
  return issues;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'collector':
      return (await import('@dayi/collector/cli.ts')).collectorCommand(rest);
    case 'demo':
      return (await import('@dayi/collector/cli.ts')).demoCommand(rest);
    case 'agent':
      return (await import('@dayi/agent/cli.ts')).agentCommand(rest);
    case 'config':
      if (rest[0] === 'check') return configCheck(rest.slice(1));
      process.stderr.write(CONFIG_HELP);
      return 2;
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`dayi: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 2;
  }
}
