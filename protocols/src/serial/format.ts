/**
 * Parsing one line from an ASCII sensor into metrics, with a regular expression whose named groups
 * are SPEC metric names: `I=(?<current_a>[0-9.]+)` turns `I=2.31` into `{ current_a: 2.31 }`.
 * Pure and total: a bad line is an outcome with a reason, never an exception.
 */
import { METRIC_NAME_PATTERN } from '../mqtt/names.ts';

export interface LineFormatSpec {
  /** A JavaScript regular expression; each named group is a metric. */
  regex: string;
  /** Multiplies a metric after parsing (e.g. mA to A: `{ current_a: 0.001 }`). */
  scale?: Record<string, number>;
}

export interface LineFormat {
  readonly regex: RegExp;
  /** The named groups, in the order they appear. */
  readonly metrics: readonly string[];
  readonly scale: Readonly<Record<string, number>>;
}

export type CompileResult =
  | { ok: true; format: LineFormat }
  /** `path` names the offending key inside the format (`['regex']`, `['scale', 'current_a']`). */
  | { ok: false; reason: string; path: string[] };

/** Named groups in source order: `(?<name>` not preceded by a backslash escape. */
function namedGroups(re: RegExp): string[] {
  // The compiled RegExp cannot list its groups, so match the source; the regex already compiled,
  // so any `(?<name>` outside a character class or escape is a group.
  const names: string[] = [];
  const src = re.source;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(' && src[i + 1] === '?' && src[i + 2] === '<' && src[i + 3] !== '=' && src[i + 3] !== '!') {
      const end = src.indexOf('>', i + 3);
      const name = src.slice(i + 3, end);
      // Duplicate names are legal in separate alternatives (ES2025); one metric each.
      if (end > 0 && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** Checks and compiles a line format. Every problem is named, so config errors can show it. */
export function compileLineFormat(spec: LineFormatSpec): CompileResult {
  if (typeof spec.regex !== 'string' || spec.regex.length === 0) {
    return { ok: false, reason: 'regex is empty', path: ['regex'] };
  }
  let regex: RegExp;
  try {
    regex = new RegExp(spec.regex);
  } catch (err) {
    return { ok: false, reason: `regex does not compile: ${(err as Error).message}`, path: ['regex'] };
  }
  const metrics = namedGroups(regex);
  if (metrics.length === 0) {
    return {
      ok: false,
      reason: 'regex has no named group; name each value after its metric, e.g. I=(?<current_a>[0-9.]+)',
      path: ['regex'],
    };
  }
  const bad = metrics.filter((m) => !METRIC_NAME_PATTERN.test(m));
  if (bad.length > 0) {
    return {
      ok: false,
      reason: `named group ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a metric name: use snake_case with a unit suffix, e.g. power_w, current_a`,
      path: ['regex'],
    };
  }
  const scale = spec.scale ?? {};
  for (const [name, factor] of Object.entries(scale)) {
    if (!metrics.includes(name)) {
      return {
        ok: false,
        reason: `scale.${name}: the regex has no group named ${name}`,
        path: ['scale', name],
      };
    }
    if (typeof factor !== 'number' || !Number.isFinite(factor)) {
      return { ok: false, reason: `scale.${name}: must be a finite number`, path: ['scale', name] };
    }
  }
  return { ok: true, format: { regex, metrics, scale: { ...scale } } };
}

export type LineOutcome =
  | { ok: true; metrics: Record<string, number> }
  | { ok: false; reason: 'no_match' | 'not_a_number'; detail: string };

/** A plain decimal or exponent number, with an optional sign; no hex, no `Infinity`, no empty string. */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses one line. Groups that did not take part in the match (optional groups) are left out; a
 * group that matched text which is not a finite number makes the whole line `not_a_number`, since
 * half a reading is more misleading than none.
 */
export function parseLine(format: LineFormat, line: string): LineOutcome {
  const m = format.regex.exec(line);
  if (!m?.groups) return { ok: false, reason: 'no_match', detail: 'line does not match the format' };
  const metrics: Record<string, number> = {};
  for (const name of format.metrics) {
    const text = m.groups[name];
    if (text === undefined) continue;
    const t = text.trim();
    const value = NUMBER.test(t) ? scaled(Number(t), format.scale[name]) : Number.NaN;
    if (!Number.isFinite(value)) {
      return {
        ok: false,
        reason: 'not_a_number',
        detail: `${name}: ${JSON.stringify(text.slice(0, 40))} is not a number`,
      };
    }
    metrics[name] = value;
  }
  if (Object.keys(metrics).length === 0) {
    return { ok: false, reason: 'no_match', detail: 'no metric group took part in the match' };
  }
  return { ok: true, metrics };
}

/**
 * Applies a scale factor. Rounded to 15 significant digits so 1523 mA x 0.001 is 1.523, not
 * 1.5230000000000001: the sensor's decimal text never had more precision than that.
 */
function scaled(value: number, factor: number | undefined): number {
  if (factor === undefined || factor === 1) return value;
  const v = value * factor;
  return Number.isFinite(v) ? Number(v.toPrecision(15)) : v;
}

export interface LineParserStats {
  matched: number;
  unmatched: number;
  notANumber: number;
}

/** `parseLine` with counters, for an input that reports how many lines it could not use. */
export class LineParser {
  readonly format: LineFormat;
  private readonly counts: LineParserStats = { matched: 0, unmatched: 0, notANumber: 0 };

  constructor(format: LineFormat) {
    this.format = format;
  }

  parse(line: string): LineOutcome {
    const out = parseLine(this.format, line);
    if (out.ok) this.counts.matched++;
    else if (out.reason === 'no_match') this.counts.unmatched++;
    else this.counts.notANumber++;
    return out;
  }

  stats(): LineParserStats {
    return { ...this.counts };
  }
}
