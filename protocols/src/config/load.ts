import { readFileSync } from 'node:fs';
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { safeParseExplained } from './issues.ts';

/**
 * One problem found in a config file: a dotted path (`instruments.0.inputs.0.type`), a message
 * saying what was wrong and what to do, and the line of the file it is on (of the key, or of the
 * nearest enclosing key when the key is missing).
 */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
}

/** `line 12: store.retentionDays: unknown key …`: the one way an issue is printed. */
export function formatConfigIssue(i: ConfigIssue): string {
  return `${i.line !== undefined ? `line ${i.line}: ` : ''}${i.path || '(root)'}: ${i.message}`;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;
  constructor(issues: ConfigIssue[], file?: string) {
    super(
      `${file ? `${file}: ` : ''}invalid configuration:\n${issues.map((i) => `  ${formatConfigIssue(i)}`).join('\n')}`,
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

/**
 * Parses YAML text, interpolates the environment and validates with `schema`; throws ConfigError
 * listing every issue at once, each with its path and line. An empty file is refused: no
 * configuration is all defaults, and an empty file is far more often a mistake (a wrong path, a
 * file truncated by an editor) than a wish.
 */
export function parseConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  opts: LoadOptions = {},
): z.infer<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        path: '',
        message: `YAML: ${e.message.split('\n')[0]}`,
        ...(e.linePos?.[0] ? { line: e.linePos[0].line } : {}),
      })),
      opts.file,
    );
  }
  let tree: unknown;
  try {
    // toJS() throws on what parsing lets through, e.g. an alias to no anchor (`*x`)
    tree = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(
      [{ path: '', message: `YAML: ${(err as Error).message.split('\n')[0]}` }],
      opts.file,
    );
  }
  if (tree === null || tree === undefined) {
    throw new ConfigError(
      [{ path: '', message: 'the file is empty (or only comments): write the configuration into it' }],
      opts.file,
    );
  }
  const issues: ConfigIssue[] = [];
  const raw = interpolateEnv(tree, opts.env ?? process.env, issues);
  const parsed = safeParseExplained(schema, raw);
  if (!parsed.success) {
    // A key whose variable is missing is already reported; its empty stand-in would only add noise.
    const missing = new Set(issues.map((i) => i.path));
    for (const i of parsed.issues) {
      const path = i.path.join('.');
      if (!missing.has(path)) issues.push({ path, message: i.message });
    }
  }
  for (const i of issues) {
    const line = lineOf(doc, i.path, lines);
    if (line !== undefined) i.line = line;
  }
  // In the file's order, as a reader goes through it; issues with no line (the root) first.
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues, opts.file);
  return parsed.data;
}

/** The line of the key at `path` in the YAML document, or of the nearest enclosing one that exists. */
export function lineOf(doc: Document, path: string, lines: LineCounter): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const part of path === '' ? [] : path.split('.')) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === part);
      if (!pair) break;
      if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(part)];
      if (item === undefined || !/^\d+$/.test(part)) break;
      const range = (item as { range?: [number, number, number] }).range;
      if (range) offset = range[0];
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lines.linePos(offset).line;
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
