import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';

/** One problem found in a config file: a dotted path (`instruments.0.inputs.0.type`) and a message. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;
  constructor(issues: ConfigIssue[], file?: string) {
    super(
      `${file ? `${file}: ` : ''}invalid configuration:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = file;
  }
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) in every string of a parsed YAML tree.
 * Done after parsing, so a secret containing YAML syntax cannot change the document's shape.
 * A missing variable is an issue at the key's path, never an empty string.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (_all, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      issues.push({ path: path.join('.'), message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, issues, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, issues, [...path, k]);
    return out;
  }
  return value;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  file?: string;
}

/** Parses YAML text, interpolates the environment and validates with `schema`; throws ConfigError listing every issue. */
export function parseConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  opts: LoadOptions = {},
): z.infer<S> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })),
      opts.file,
    );
  }
  const issues: ConfigIssue[] = [];
  let js: unknown;
  try {
    // toJS() throws on what parsing lets through, e.g. an alias to no anchor (`*x`)
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(
      [{ path: '', message: `YAML: ${(err as Error).message.split('\n')[0]}` }],
      opts.file,
    );
  }
  const raw = interpolateEnv(js ?? {}, opts.env ?? process.env, issues);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // A key whose variable is missing is already reported; its empty stand-in would only add noise.
    const missing = new Set(issues.map((i) => i.path));
    for (const i of parsed.error.issues) {
      const path = i.path.join('.');
      if (i.code === 'unrecognized_keys') {
        // One line per key, at the key's own path, so a typo is found where it is.
        for (const key of i.keys)
          issues.push({ path: path ? `${path}.${key}` : key, message: 'unknown key' });
      } else if (!missing.has(path)) {
        issues.push({ path, message: i.message });
      }
    }
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues, opts.file);
  return parsed.data;
}

export function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
  opts: Omit<LoadOptions, 'file'> = {},
): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read file: ${(err as Error).message}` }], file);
  }
  return parseConfig(text, schema, { ...opts, file });
}
