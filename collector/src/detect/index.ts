/**
 * detect/: the anomaly detectors, pure. No SQLite, no clock of their own, no I/O: data and `now`
 * come in as arguments, findings (episodes) go out. The shell that feeds them from the ledger and
 * turns findings into alerts lives in ../alerts/.
 */
import type { State, TopicKind, TopicPayloads } from '@dayi/protocols';
import { type Arrival, initArrivals, onArrival, onArrivalClock } from './arrivals.ts';
import { fold, initFold } from './fold.ts';
import type { DayHist } from './histogram.ts';
import { pointFindings } from './points.ts';
import { isEnabled } from './settings.ts';
import type { DetectSettings, Finding, Interval, Sample } from './types.ts';

export * from './types.ts';

/** One accepted message with what ingest derived from it: enough for every detector. */
export interface DetectMessage<K extends TopicKind = TopicKind> {
  /** Ledger id: arrival order, and the tie-break of equal event times. */
  id: number;
  kind: K;
  payload: TopicPayloads[K];
  ts: number;
  receivedAt: number;
  /** The observation the message gave (derive/pure/observation.ts), or null. */
  state: State | null;
}

/** The event-time sample of a message with an observation: its state and its signal value. */
export function sampleOf(m: DetectMessage, signal: string): Sample | null {
  if (m.state === null) return null;
  const value =
    m.kind === 'telemetry' ? ((m.payload as TopicPayloads['telemetry']).metrics[signal] ?? null) : null;
  return { ts: m.ts, id: m.id, state: m.state, value };
}

export function arrivalOf(m: DetectMessage): Arrival {
  return {
    receivedAt: m.receivedAt,
    ts: m.ts,
    kind: m.kind,
    online: m.kind === 'status' ? (m.payload as TopicPayloads['status']).online : null,
  };
}

export interface Dataset {
  settings: DetectSettings;
  messages: readonly DetectMessage[];
  bookings?: readonly Interval[];
  /** Collector start times (arrival clock). */
  starts?: readonly number[];
  /** When the collector was shutting down: [from, to). */
  shutdowns?: readonly { from: number; to: number | null }[];
  /** The arrival clock at the end (for offline by silence). */
  now: number;
}

/**
 * Every finding over a whole dataset at once, in any input order: what the incremental shell
 * must agree with. Event-time detectors see messages by (ts, id), link detectors by arrival.
 */
export function detectAll(d: Dataset): Finding[] {
  const findings: Finding[] = [];
  const emit = (f: Finding) => findings.push(f);
  for (const m of d.messages) findings.push(...pointFindings(m.kind, m.payload, d.settings));
  const arrivals = [...d.messages].sort((a, b) => a.receivedAt - b.receivedAt || a.id - b.id);
  const link = initArrivals();
  const env = {
    offlineAfterMs: d.settings.offlineAfterMs,
    starts: d.starts ?? [],
    shutdowns: d.shutdowns ?? [],
    clockSkew: isEnabled(d.settings, 'clock_skew'),
    emit,
  };
  for (const m of arrivals) onArrival(link, arrivalOf(m), env);
  onArrivalClock(link, d.now, env);
  const samples = d.messages.map((m) => sampleOf(m, d.settings.signal)).filter((s) => s !== null);
  const days = new Map<string, DayHist>();
  const r = fold(initFold(), samples, {
    settings: d.settings,
    bookings: d.bookings ?? [],
    pastDays: (from, to) => [...days.values()].filter((x) => x.date >= from && x.date <= to),
  });
  findings.push(...r.findings);
  return findings;
}

/**
 * Findings collapsed to one per episode (type and start), the latest word on each, sorted: the
 * form golden cases compare.
 */
export function episodes(findings: readonly Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const f of findings) byKey.set(`${f.type}\u0000${f.start}\u0000${f.sticky}`, f);
  return [...byKey.values()].sort(
    (a, b) => a.start - b.start || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0),
  );
}
