/**
 * `dayi config check FILE`: validates an agent or collector configuration, or a firmware profile,
 * without starting anything, and prints every problem in one pass, each with its line and path:
 * a technician should not have to fix one error to meet the next.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  type ConfigIssue,
  formatConfigIssue,
  interpolateEnv,
  lineOf,
  parseConfig,
} from '@dayi/protocols';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

export const KINDS = ['agent', 'collector', 'modbus-profile', 'opcua-profile'] as const;
export type Kind = (typeof KINDS)[number];

const KIND_NAME: Record<Kind, string> = {
  agent: 'agent config',
  collector: 'collector config',
  'modbus-profile': 'Modbus meter profile',
  'opcua-profile': 'OPC UA profile',
};

export const CONFIG_HELP = `Usage: dayi config check FILE [--kind agent|collector|modbus-profile|opcua-profile]

Commands:
  check FILE   validate an agent or collector configuration, or a firmware profile, and print
               every error with its line and path (dayi config check --help: more)
`;

export const CONFIG_CHECK_HELP = `Usage: dayi config check FILE [--kind agent|collector|modbus-profile|opcua-profile]

Validates without starting anything:
  an agent config        (agent.yaml: has an \`agent:\` section), with the meter and OPC UA
                         profiles its inputs name: that they exist, are valid, and fit the input
  a collector config     (collector.yaml)
  a Modbus meter profile (firmware-configs/modbus/<name>.yaml: has \`points:\` and \`manufacturer:\`)
  an OPC UA profile      (firmware-configs/opcua/<name>.yaml: has \`rootSearch:\` and \`states:\`)
The kind is taken from the file's content unless --kind is given.

\${VAR} is replaced from the environment; a variable that is not set is an error. Every problem
is printed in one pass, with its line and path (e.g. line 12: instruments.0.inputs.0.type), and
the exit code is 1 if there is any (an empty file is one), 0 if the file is valid.
`;

/** Which kind of file this is, from its top-level keys. */
export function detectKind(tree: unknown): Kind {
  const keys = tree && typeof tree === 'object' && !Array.isArray(tree) ? Object.keys(tree) : [];
  if (keys.includes('agent')) return 'agent';
  if (keys.includes('rootSearch') || keys.includes('states')) return 'opcua-profile';
  if (keys.includes('points') && (keys.includes('manufacturer') || keys.includes('model')))
    return 'modbus-profile';
  return 'collector';
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

async function schemaOf(kind: Kind): Promise<z.ZodType> {
  switch (kind) {
    case 'agent':
      return (await import('@dayi/agent/config.ts')).agentConfigSchema;
    case 'collector':
      return (await import('@dayi/collector/config.ts')).collectorConfigSchema;
    case 'modbus-profile':
      return (await import('@dayi/protocols/modbus/profile.ts')).profileSchema;
    case 'opcua-profile':
      return (await import('@dayi/protocols/opcua/profile.ts')).opcuaProfileSchema;
  }
}

/** Every issue of one file of `kind`, sorted by line; the empty list means valid. */
export async function checkFile(
  file: string,
  text: string,
  kind: Kind,
  env = process.env,
): Promise<ConfigIssue[]> {
  const profile = kind === 'modbus-profile' || kind === 'opcua-profile';
  const schema = await schemaOf(kind);
  // Profiles are data: they never take values from the environment.
  const issues = issuesOf(() => parseConfig(text, schema, { file, env: profile ? {} : env }));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) return issues;
  const tree = doc.toJS() as Record<string, unknown> | null;
  if (!tree || typeof tree !== 'object') return issues;
  const more: ConfigIssue[] = [];
  if (profile) {
    // A profile is found by its file name: a `name` that differs would never be loaded.
    const stem = basename(file, extname(file));
    if (typeof tree.name === 'string' && tree.name !== stem)
      more.push({
        path: 'name',
        message: `is ${JSON.stringify(tree.name)} but the file is ${basename(file)}: make them the same, the agent finds a profile by its file name`,
      });
  }
  if (kind === 'agent') more.push(...(await agentInputIssues(file, tree, env)));
  for (const i of more) {
    const line = lineOf(doc, i.path, lines);
    if (line !== undefined) i.line = line;
  }
  const seen = new Set(issues.map((i) => `${i.path}\u0000${i.message}`));
  for (const i of more) if (!seen.has(`${i.path}\u0000${i.message}`)) issues.push(i);
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/**
 * What the schema alone cannot see, for every input that is valid on its own (even when other
 * parts of the file are not): its meter or OPC UA profile must exist in the profiles folder
 * (resolved against the config file, as the agent does) and be valid, and a Modbus input's
 * registers must fit in requests.
 */
async function agentInputIssues(
  file: string,
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Promise<ConfigIssue[]> {
  const { DEFAULT_PROFILES_DIR } = await import('@dayi/agent/config.ts');
  const { inputConfigSchema } = await import('@dayi/agent/inputs/schemas.ts');
  const { checkModbusInput } = await import('@dayi/agent/inputs/modbus/index.ts');
  const { listModbusProfiles } = await import('@dayi/agent/inputs/modbus/profiles.ts');
  const { diskProfiles } = await import('@dayi/agent/inputs/profiles-load.ts');
  const tree = interpolateEnv(raw, env, []) as Record<string, unknown>;
  const dir =
    typeof tree.profilesDir === 'string' && tree.profilesDir !== '' ? tree.profilesDir : DEFAULT_PROFILES_DIR;
  const profilesDir = isAbsolute(dir) ? dir : resolve(dirname(resolve(file)), dir);
  const profiles = diskProfiles(profilesDir);
  const issues: ConfigIssue[] = [];
  const instruments = Array.isArray(tree.instruments) ? tree.instruments : [];
  instruments.forEach((inst: unknown, i) => {
    const inputs = inst && typeof inst === 'object' ? (inst as { inputs?: unknown }).inputs : undefined;
    if (!Array.isArray(inputs)) return;
    inputs.forEach((rawInput: unknown, j) => {
      const parsed = inputConfigSchema.safeParse(rawInput);
      if (!parsed.success) return; // the schema's own issues say why
      const input = parsed.data;
      const at = `instruments.${i}.inputs.${j}`;
      if ((input.type !== 'modbus' && input.type !== 'opcua') || !input.profile) {
        if (input.type === 'modbus')
          for (const issue of checkModbusInput(input, profiles))
            issues.push({ path: `${at}.${issue.path}`, message: issue.message });
        return;
      }
      if (input.type === 'modbus') {
        const known = listModbusProfiles(profilesDir);
        if (!known.includes(input.profile)) {
          issues.push({
            path: `${at}.profile`,
            message: `unknown Modbus profile ${JSON.stringify(input.profile)}; ${profilesDir}/modbus/ has ${known.join(', ') || 'none'}`,
          });
          return;
        }
      }
      try {
        profiles.get(input.type, input.profile);
      } catch (err) {
        // The profile's own problems, each with its file, line and path.
        const inner =
          err instanceof ConfigError ? err.issues : [{ path: '', message: (err as Error).message }];
        const where = err instanceof ConfigError && err.file ? err.file : `profile ${input.profile}`;
        for (const p of inner)
          issues.push({ path: `${at}.profile`, message: `${where}: ${formatConfigIssue(p)}` });
        return;
      }
      if (input.type === 'modbus')
        for (const issue of checkModbusInput(input, profiles))
          issues.push({ path: `${at}.${issue.path}`, message: issue.message });
    });
  });
  return issues;
}

export async function configCheck(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONFIG_CHECK_HELP);
    return 0;
  }
  const kindIdx = argv.indexOf('--kind');
  const kindArg = kindIdx >= 0 ? argv[kindIdx + 1] : undefined;
  const files = argv.filter(
    (a, i) => !a.startsWith('-') && (kindIdx < 0 || (i !== kindIdx + 1 && i !== kindIdx)),
  );
  if (files.length !== 1 || (kindIdx >= 0 && !(KINDS as readonly (string | undefined)[]).includes(kindArg))) {
    process.stderr.write(
      `dayi config check: ${files.length !== 1 ? 'give exactly one FILE' : `--kind must be one of ${KINDS.join(', ')}`}\n\n${CONFIG_CHECK_HELP}`,
    );
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
  let kind = kindArg as Kind | undefined;
  if (kind === undefined) {
    const doc = parseDocument(text);
    kind = detectKind(doc.errors.length > 0 ? undefined : doc.toJS());
  }
  const issues = await checkFile(file, text, kind);
  if (issues.length > 0) {
    process.stderr.write(
      `${file}: ${issues.length} error${issues.length === 1 ? '' : 's'} in ${KIND_NAME[kind]}\n`,
    );
    for (const i of issues) process.stderr.write(`  ${formatConfigIssue(i)}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid ${KIND_NAME[kind]}\n`);
  return 0;
}
