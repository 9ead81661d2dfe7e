/**
 * One voice for validation errors, in configuration files and in the REST API alike: what was
 * wrong and what to do, in plain words, instead of zod's defaults ("Invalid input: expected
 * number, received string"). The caller says where (a dotted path, a line).
 *
 * Pure: zod issues in, text out.
 */
import type { z } from 'zod';

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++)
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[s.length]![t.length]!;
}

/**
 * The candidate `word` was most likely meant to be, or undefined when none is close: a case slip,
 * a prefix or plural (`threshold` for `thresholds`), or a typo of one or two letters in a longer word.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    if (c === word) continue;
    const cl = c.toLowerCase();
    let score = editDistance(word, c);
    const allowed = Math.max(1, Math.min(3, Math.floor(Math.max(word.length, c.length) / 4)));
    // `retentionDay` for `retentionDays`, `port` for `ports`: one is the other plus a short tail.
    if (
      score > allowed &&
      (cl.startsWith(lower) || lower.startsWith(cl)) &&
      Math.min(c.length, word.length) >= 3
    )
      score = allowed;
    if (score <= allowed && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** `, did you mean `x`?` or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean \`${c}\`?)`;
}

const A: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a section of keys',
  bigint: 'a whole number',
  date: 'a date',
  null: 'null',
  undefined: 'nothing',
};

/** What a value is, in words, for "expected a number, got …". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'string')
    return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return Number.isFinite(value) ? `the number ${value}` : 'not a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a section of keys';
  return typeof value;
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

type Issue = z.core.$ZodRawIssue | z.core.$ZodIssue;

/** Keys an object schema takes, from the schema that raised an unrecognized_keys issue. */
export function knownKeysOf(issue: { inst?: unknown }): string[] {
  const def = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def;
  return def?.shape ? Object.keys(def.shape) : [];
}

/**
 * A zod error map (`schema.safeParse(data, { error: explainIssue })`): plain words for zod's
 * built-in checks. Messages a schema sets itself (regex hints, refinements) are kept: zod asks
 * this map only for issues that have none.
 */
export function explainIssue(issue: Issue): string | undefined {
  const input = (issue as { input?: unknown }).input;
  const given = describeValue(input);
  switch (issue.code) {
    case 'invalid_type': {
      const want = A[issue.expected] ?? issue.expected;
      return input === undefined ? `missing: give ${want}` : `got ${given}: give ${want}`;
    }
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'string') return `too long: use at most ${max} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `too many items: give at most ${max}`;
      return `${given} is too big: use ${issue.inclusive ? 'at most' : 'less than'} ${max}`;
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string')
        return min <= 1 ? 'is empty: give a value' : `too short: use at least ${min} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `too few items: give at least ${min}`;
      return `${given} is too small: use ${issue.inclusive ? 'at least' : 'more than'} ${min}`;
    }
    case 'invalid_value': {
      const close = typeof input === 'string' ? didYouMean(input, issue.values.map(String)) : '';
      const what = input === undefined ? 'missing' : `${given} is not allowed`;
      return `${what}: use ${issue.values.length === 1 ? '' : 'one of '}${quoteList(issue.values)}${close}`;
    }
    case 'invalid_format': {
      if (issue.format === 'url') return `${given} is not a URL: give a full one, e.g. http://127.0.0.1:8086`;
      if (issue.format === 'regex')
        return `${given} has the wrong form: it must match ${(issue as { pattern?: string }).pattern}`;
      return `${given} is not a valid ${issue.format}: correct it`;
    }
    case 'invalid_union': {
      const u = issue as { discriminator?: string; options?: unknown[] };
      if (u.discriminator !== undefined && u.options) {
        const value =
          input && typeof input === 'object' ? (input as Record<string, unknown>)[u.discriminator] : input;
        const options = quoteList(u.options);
        if (value === undefined) return `missing: give one of ${options}`;
        const close = typeof value === 'string' ? didYouMean(value, u.options.map(String)) : '';
        return `${describeValue(value)} is not allowed: use one of ${options}${close}`;
      }
      return `${given} fits none of the accepted forms: see the documentation of this field`;
    }
    case 'unrecognized_keys':
      return `unknown ${issue.keys.map((k) => `\`${k}\``).join(', ')}: remove or correct ${issue.keys.length === 1 ? 'it' : 'them'}`;
    case 'not_multiple_of':
      return `${given} is not a multiple of ${String(issue.divisor)}: use one`;
    case 'invalid_key':
      return 'has a key of the wrong form: correct the key';
    case 'invalid_element':
      return 'has an element of the wrong form: correct it';
    default:
      return undefined;
  }
}

/** One problem at one place: a dotted path (`store.retentionDays`) and the plain-words message. */
export interface PathIssue {
  path: (string | number)[];
  message: string;
}

/**
 * `unknown key \`threshold\` (did you mean \`thresholds\`?)`, or the keys allowed there. `noun` is
 * what a key is called where it was written: a key in YAML, a field of a JSON body, a parameter.
 */
export function unknownKeyMessage(
  key: string,
  known: readonly string[],
  close = closest(key, known),
  noun = 'key',
): string {
  if (close !== undefined) return `unknown ${noun} \`${key}\` (did you mean \`${close}\`?)`;
  if (known.length > 0) return `unknown ${noun} \`${key}\`: remove it; allowed here are ${known.join(', ')}`;
  return `unknown ${noun} \`${key}\`: remove it`;
}

/**
 * zod's issues after `safeParse(data, { error: explainIssue })`, flattened: an unknown key becomes
 * one issue at the key's own path (so a typo is found where it is), with the key that was probably
 * meant, or else the keys that are allowed there.
 */
export function flattenIssues(
  issues: readonly z.core.$ZodIssue[],
  knownKeys: (path: readonly PropertyKey[]) => readonly string[],
  noun = 'key',
): PathIssue[] {
  const out: PathIssue[] = [];
  for (const i of issues) {
    const path = i.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (i.code === 'unrecognized_keys') {
      const known = knownKeys(i.path);
      for (const key of i.keys) {
        const close = closest(key, known);
        out.push({ path: [...path, key], message: unknownKeyMessage(key, known, close, noun) });
      }
      continue;
    }
    out.push({ path, message: i.message });
  }
  return out;
}

/**
 * Parses with plain-words messages. Returns the data, or every issue flattened (see flattenIssues).
 * Known keys for unknown-key hints come from the schema that raised the issue.
 */
export function safeParseExplained<S extends z.ZodType>(
  schema: S,
  data: unknown,
  opts: { noun?: string } = {},
): { success: true; data: z.output<S> } | { success: false; issues: PathIssue[] } {
  const known = new Map<string, string[]>();
  const extra: PathIssue[] = [];
  const r = schema.safeParse(data, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') known.set(JSON.stringify(iss.path ?? []), knownKeysOf(iss));
      if (iss.code === 'invalid_union') extra.push(...misspeltDiscriminator(iss, opts.noun));
      return explainIssue(iss);
    },
  });
  if (r.success) return { success: true, data: r.data };
  return {
    success: false,
    issues: [
      ...flattenIssues(r.error.issues, (path) => known.get(JSON.stringify(path)) ?? [], opts.noun),
      ...extra,
    ],
  };
}

/**
 * `{ typ: modbus }` in a list of inputs chosen by `type`: zod can only say that `type` is missing,
 * because without it it cannot tell which keys are known. Every key that no option takes is
 * unknown whichever option was meant, so it is reported at its own path too.
 */
function misspeltDiscriminator(iss: z.core.$ZodRawIssue, noun?: string): PathIssue[] {
  const u = iss as { discriminator?: string; input?: unknown; path?: PropertyKey[]; inst?: unknown };
  const input = u.input;
  if (u.discriminator === undefined || !input || typeof input !== 'object' || Array.isArray(input)) return [];
  if (u.discriminator in input) return [];
  const options =
    (u.inst as { _zod?: { def?: { options?: unknown[] } } } | undefined)?._zod?.def?.options ?? [];
  const keys = new Set<string>();
  for (const o of options) for (const k of knownKeysOf({ inst: o })) keys.add(k);
  const parent = (u.path ?? []).slice(0, -1).map((p) => (typeof p === 'number' ? p : String(p)));
  return Object.keys(input)
    .filter((k) => !keys.has(k))
    .map((k) => ({ path: [...parent, k], message: unknownKeyMessage(k, [...keys], undefined, noun) }));
}
