/**
 * Pure: the InfluxDB points the collector writes, as line protocol, encoded and escaped by
 * @influxdata/influxdb-client's `Point`. The schema (docs/influxdb.md):
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
 */

import type { DerivedState, Telemetry } from '@dayi/protocols';
import { Point } from '@influxdata/influxdb-client';

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

function tagged(measurement: Measurement, tags: Record<string, string | null | undefined>): Point {
  const p = new Point(measurement);
  for (const name of TAGS[measurement]) {
    const v = tagValue(tags[name]);
    if (v !== null) p.tag(name, v);
  }
  return p;
}

function line(p: Point): string {
  const text = p.toLineProtocol();
  // Every point here has at least one field; a point without fields is a bug, not data.
  if (text === undefined) throw new Error('an InfluxDB point without fields');
  return text;
}

export interface Registry {
  org: string | null;
  category: string | null;
}

/** One accepted telemetry message: exactly one `telemetry` point. */
export function telemetryLine(instrumentId: string, reg: Registry, t: Telemetry): string {
  const p = tagged('telemetry', { instrument: instrumentId, org: reg.org, category: reg.category });
  for (const name in t.metrics) {
    const value = t.metrics[name];
    if (typeof value === 'number' && Number.isFinite(value)) p.floatField(metricField(name), value);
  }
  if (t.state !== undefined) p.stringField('state', t.state);
  // Always present: a message with no metrics and no state is still one point, and `count(seq)`
  // counts the messages.
  p.intField('seq', t.seq);
  p.timestamp(nsTime(t.ts, t.seq));
  return line(p);
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
  const p = tagged('state', { instrument: s.instrumentId, org: s.org });
  p.stringField('state', s.state);
  if (s.end !== undefined) p.floatField('duration_s', (s.end - s.start) / 1000);
  p.timestamp(nsTime(s.start));
  return line(p);
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
  const p = tagged('usage_daily', { instrument: d.instrumentId, org: d.org, category: d.category });
  p.floatField('powered_h', d.poweredMs / 3_600_000);
  p.floatField('running_h', d.runningMs / 3_600_000);
  p.floatField('coverage', d.spanMs > 0 ? d.coveredMs / d.spanMs : 0);
  p.timestamp(nsTime(d.dayStart));
  return line(p);
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
  const p = tagged('alert', {
    instrument: e.instrumentId,
    org: e.org,
    kind: e.kind,
    type: e.type,
    severity: e.severity,
  });
  p.stringField('status', fieldText(e.status));
  p.stringField('detail', detailText(e.detail));
  p.timestamp(nsTime(e.at, e.id));
  return line(p);
}
