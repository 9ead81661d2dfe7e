/**
 * Pure: the InfluxDB points the collector writes, as line protocol. The schema (docs/influxdb.md):
 *
 * | measurement   | tags                                   | fields                                         | time                 |
 * | ------------- | -------------------------------------- | ---------------------------------------------- | -------------------- |
 * | `telemetry`   | instrument, org, category              | one float per metric, `state` (string), `seq`  | the sample's `ts`    |
 * | `state`       | instrument, org                        | `state`, `duration_s` once the interval closed | the interval's start |
 * | `usage_daily` | instrument, org, category              | `powered_h`, `running_h`, `coverage`           | start of the local day |
 * | `alert`       | instrument, org, kind, type, severity  | `status`, `detail` (JSON)                      | when it changed      |
 *
 * Every timestamp is written in ns. Points that must stay apart although they share a millisecond
 * (two telemetry messages of one instrument, two alert transitions) get a sub-millisecond offset
 * from their sequence number (InfluxDB's advice for duplicate points: "increment the timestamp by
 * a nanosecond"); the offset is deterministic, so a batch sent again overwrites itself.
 *
 * The text is byte for byte what @influxdata/influxdb-client's `Point` writes (tags and fields
 * sorted by key, its escaping, `String(n)` for floats, `Ni` for integers), which the tests check
 * against `Point` itself on generated input. It is built here directly because `Point` (an
 * object, a sort and a character-by-character escaper per point) was the largest part of the
 * shipper's CPU per line; the tag set of an instrument is escaped once and reused.
 */

import type { DerivedState, Telemetry } from '@dayi/protocols';

export const MEASUREMENTS = ['telemetry', 'state', 'usage_daily', 'alert'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

/** Tags are fixed per measurement (InfluxDB 3 requires it); a tag without a value is left out. */
export const TAGS: Record<Measurement, readonly string[]> = {
  telemetry: ['instrument', 'org', 'category'],
  state: ['instrument', 'org'],
  usage_daily: ['instrument', 'org', 'category'],
  alert: ['instrument', 'org', 'kind', 'type', 'severity'],
};

/** Field names the telemetry measurement uses itself, or that are tags or InfluxQL's `time`. */
const RESERVED_TELEMETRY_FIELDS: ReadonlySet<string> = new Set([...TAGS.telemetry, 'state', 'seq', 'time']);

/**
 * The field a metric is written as: its own name, except names that are tags or fields of the
 * measurement already (`org`, `state`, `seq`, …), which get a `metric_` prefix, so that tag and
 * field names never coincide and no metric overwrites `state`.
 */
export function metricField(name: string): string {
  return RESERVED_TELEMETRY_FIELDS.has(name) ? `metric_${name}` : name;
}

/**
 * A tag value line protocol can carry: control characters (line breaks, tabs) become spaces (a tag
 * cannot hold a line break, and `Point` escapes a tab as `\t`, which InfluxDB keeps as two
 * characters) and trailing backslashes are dropped (one would escape the separator after it).
 * Empty: no tag.
 */
export function tagValue(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  let v = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    v += code < 0x20 || code === 0x7f ? ' ' : ch;
  }
  v = v.replace(/\\+$/, '');
  return v.length === 0 ? null : v;
}

const SUB_MS = 1_000_000;

/** ms since the epoch, plus an offset below one ms, as a ns timestamp string (beyond 2^53). */
export function nsTime(ms: number, subMs = 0): string {
  const sub = ((subMs % SUB_MS) + SUB_MS) % SUB_MS;
  return `${ms}${String(sub).padStart(6, '0')}`;
}

const TAG_SPECIAL = /[,= \n\r\t]/;
const TAG_ESCAPES: Record<string, string> = {
  ',': '\\,',
  '=': '\\=',
  ' ': '\\ ',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const TAG_SPECIAL_ALL = /[,= \n\r\t]/g;

/** Escapes a tag key, tag value or field key as line protocol (and `Point`) does. */
export function escapeKey(text: string): string {
  return TAG_SPECIAL.test(text) ? text.replace(TAG_SPECIAL_ALL, (c) => TAG_ESCAPES[c]!) : text;
}

const STRING_SPECIAL = /["\\]/;
const STRING_SPECIAL_ALL = /["\\]/g;

/** A string field value: in double quotes, `"` and `\` escaped. */
export function quoteField(text: string): string {
  return `"${STRING_SPECIAL.test(text) ? text.replace(STRING_SPECIAL_ALL, (c) => `\\${c}`) : text}"`;
}

/** Tag names sorted as `Point` sorts them (by UTF-16 code units). */
const SORTED_TAGS: Record<Measurement, readonly string[]> = {
  telemetry: [...TAGS.telemetry].sort(),
  state: [...TAGS.state].sort(),
  usage_daily: [...TAGS.usage_daily].sort(),
  alert: [...TAGS.alert].sort(),
};

/** `measurement,tag=value,…` of one point: the tags of the schema that have a value, sorted. */
export function seriesKey(measurement: Measurement, tags: Record<string, string | null | undefined>): string {
  let key: string = measurement;
  for (const name of SORTED_TAGS[measurement]) {
    const v = tagValue(tags[name]);
    if (v !== null) key += `,${name}=${escapeKey(v)}`;
  }
  return key;
}

/** A float field value as `Point.floatField` writes it; a non-finite number is a bug, not data. */
function float(name: string, value: number): string {
  if (!Number.isFinite(value)) throw new Error(`invalid float value for field '${name}': ${value}`);
  return String(value);
}

export interface Registry {
  org: string | null;
  category: string | null;
}

const fieldKeys = new Map<string, string>();

/** The escaped field key of a metric (metric names repeat: computed once each). */
function metricKey(name: string): string {
  let key = fieldKeys.get(name);
  if (key === undefined) {
    key = escapeKey(metricField(name));
    if (fieldKeys.size >= 10_000) fieldKeys.clear();
    fieldKeys.set(name, key);
  }
  return key;
}

/**
 * Encodes `telemetry` points. The series key (measurement and tags) of each instrument is kept
 * while its registry entry stays the same, so a line costs its fields and timestamp only.
 */
export function createTelemetryEncoder(): (
  instrumentId: string,
  org: string | null,
  category: string | null,
  t: Telemetry,
) => string {
  const series = new Map<string, { org: string | null; category: string | null; key: string }>();
  // Reused between lines: field keys and values, kept sorted by key (`Point`'s order).
  const keys: string[] = [];
  const values: string[] = [];
  let n = 0;
  /** Inserts into the sorted list; a key set twice keeps the later value, as `Point` does. */
  function put(key: string, value: string): void {
    let i = n;
    while (i > 0 && keys[i - 1]! > key) i--;
    if (i > 0 && keys[i - 1] === key) {
      values[i - 1] = value;
      return;
    }
    for (let j = n; j > i; j--) {
      keys[j] = keys[j - 1]!;
      values[j] = values[j - 1]!;
    }
    keys[i] = key;
    values[i] = value;
    n++;
  }
  return (instrumentId, org, category, t) => {
    let s = series.get(instrumentId);
    if (s === undefined || s.org !== org || s.category !== category) {
      if (series.size >= 100_000) series.clear();
      s = { org, category, key: seriesKey('telemetry', { instrument: instrumentId, org, category }) };
      series.set(instrumentId, s);
    }
    n = 0;
    const metrics = t.metrics;
    for (const name in metrics) {
      const value = metrics[name];
      if (typeof value === 'number' && Number.isFinite(value)) put(metricKey(name), String(value));
    }
    if (t.state !== undefined) put('state', quoteField(t.state));
    // Always present: a message with no metrics and no state is still one point, and `count(seq)`
    // counts the messages.
    put('seq', `${Math.floor(t.seq)}i`);
    let line = `${s.key} ${keys[0]}=${values[0]}`;
    for (let i = 1; i < n; i++) line += `,${keys[i]}=${values[i]}`;
    return `${line} ${nsTime(t.ts, t.seq)}`;
  };
}

const encodeTelemetry = createTelemetryEncoder();

/** One accepted telemetry message: exactly one `telemetry` point. */
export function telemetryLine(instrumentId: string, reg: Registry, t: Telemetry): string {
  return encodeTelemetry(instrumentId, reg.org, reg.category, t);
}

export interface StateInterval {
  instrumentId: string;
  org: string | null;
  state: DerivedState;
  /** ms since the epoch. */
  start: number;
  /** ms; absent while the interval is still open. */
  end?: number;
}

/** A state interval, written at its start; written again with `duration_s` once it closed. */
export function stateLine(s: StateInterval): string {
  const key = seriesKey('state', { instrument: s.instrumentId, org: s.org });
  const duration = s.end === undefined ? '' : `duration_s=${float('duration_s', (s.end - s.start) / 1000)},`;
  return `${key} ${duration}state=${quoteField(s.state)} ${nsTime(s.start)}`;
}

export interface UsageDay {
  instrumentId: string;
  org: string | null;
  category: string | null;
  /** The start of the local day, ms. */
  dayStart: number;
  poweredMs: number;
  runningMs: number;
  coveredMs: number;
  spanMs: number;
}

/** One calendar day's usage; a re-derived day is the same series and time, so it overwrites. */
export function usageLine(d: UsageDay): string {
  const key = seriesKey('usage_daily', { instrument: d.instrumentId, org: d.org, category: d.category });
  const coverage = float('coverage', d.spanMs > 0 ? d.coveredMs / d.spanMs : 0);
  const powered = float('powered_h', d.poweredMs / 3_600_000);
  const running = float('running_h', d.runningMs / 3_600_000);
  return `${key} coverage=${coverage},powered_h=${powered},running_h=${running} ${nsTime(d.dayStart)}`;
}

/** A row of `alert_events` (the alerts' append-only log). */
export interface AlertEvent {
  id: number;
  instrumentId: string;
  org: string | null;
  kind: string;
  type: string;
  severity: string;
  status: string;
  /** ms */
  at: number;
  /** JSON text */
  detail: string;
}

/**
 * A string field InfluxDB 1.x parses: its line protocol reader splits lines before it looks at
 * quotes, so a raw line break would cut the point in two. Line breaks become spaces.
 */
export function fieldText(value: string): string {
  return value.replace(/\r\n|\r|\n/g, ' ');
}

/** `detail` as compact JSON (no line breaks whatever the writer stored), else as plain text. */
export function detailText(detail: string): string {
  try {
    return JSON.stringify(JSON.parse(detail));
  } catch {
    return fieldText(detail);
  }
}

export function alertLine(e: AlertEvent): string {
  const key = seriesKey('alert', {
    instrument: e.instrumentId,
    org: e.org,
    kind: e.kind,
    type: e.type,
    severity: e.severity,
  });
  const detail = quoteField(detailText(e.detail));
  return `${key} detail=${detail},status=${quoteField(fieldText(e.status))} ${nsTime(e.at, e.id)}`;
}

/**
 * The lines of one write request, as the request body itself (UTF-8, one line per `\n`): lines
 * are written into it as they are encoded, so a batch of 5,000 costs no array of strings and no
 * join. No line holds a raw line break (tags and string fields are cleaned of them), so the body
 * splits back into its lines when a request must be halved.
 */
export class LineBatch {
  private buf: Buffer;
  private used = 0;
  private n = 0;

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  static of(lines: readonly string[]): LineBatch {
    const b = new LineBatch(lines.reduce((sum, l) => sum + l.length + 1, 0) * 3 || 16);
    for (const l of lines) b.push(l);
    return b;
  }

  push(line: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8.
    const need = this.used + line.length * 3 + 1;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    this.used += this.buf.write(line, this.used);
    this.buf[this.used++] = 0x0a;
    this.n++;
  }

  /** Lines in the batch. */
  get count(): number {
    return this.n;
  }

  /** The request body: every line followed by `\n`. */
  get text(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  lines(): string[] {
    if (this.n === 0) return [];
    return this.buf.toString('utf8', 0, this.used - 1).split('\n');
  }
}
