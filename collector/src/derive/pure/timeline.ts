import type { DerivedState, State } from '@dayi/protocols';

/**
 * One piece of state evidence: the instrument was in `state` at event time `ts`.
 * `order` breaks ties between observations with the same `ts`: the highest wins (the ledger's
 * message id, i.e. the last inserted). Without it, the later position in the input wins.
 */
export interface Observation {
  ts: number;
  state: State;
  order?: number;
}

/** [start, end) in ms UTC, in one derived state. */
export interface Segment {
  start: number;
  end: number;
  state: DerivedState;
}

export interface TimelineOptions {
  /** How long one observation stays fresh evidence (config `offlineAfter`), ms. */
  offlineAfterMs: number;
  /** Nothing at or after `now` is counted: the future is not known. */
  now: number;
}

/**
 * Observations in event-time order, one per `ts` (ties: the highest `order`, else the last given).
 * Arrival order never matters beyond tie-breaking, so replays and late data give the same result.
 */
export function normalizeObservations(observations: readonly Observation[]): Observation[] {
  const indexed = observations.map((o, i) => ({ o, key: o.order ?? i }));
  indexed.sort((a, b) => a.o.ts - b.o.ts || a.key - b.key);
  const out: Observation[] = [];
  for (const { o } of indexed) {
    const last = out[out.length - 1];
    if (last && last.ts === o.ts) out[out.length - 1] = o;
    else out.push(o);
  }
  return out;
}

/**
 * The derived states over `window`, clipped to `now`, with no holes: observation i holds over
 * [ts_i, min(ts_{i+1}, ts_i + offlineAfter)); the rest of any gap is `unknown`.
 * Adjacent segments in the same state are merged.
 */
export function timeline(
  observations: readonly Observation[],
  window: { start: number; end: number },
  opts: TimelineOptions,
): Segment[] {
  return timelineOfSorted(normalizeObservations(observations), window, opts);
}

/** `timeline` over observations already normalized (sorted, one per ts): lets callers sort once. */
export function timelineOfSorted(
  sorted: readonly Observation[],
  window: { start: number; end: number },
  opts: TimelineOptions,
): Segment[] {
  const start = window.start;
  const end = Math.min(window.end, opts.now);
  const out: Segment[] = [];
  if (end <= start) return out;
  const push = (segStart: number, segEnd: number, state: DerivedState) => {
    if (segEnd <= segStart) return;
    const last = out[out.length - 1];
    if (last && last.state === state && last.end === segStart) last.end = segEnd;
    else out.push({ start: segStart, end: segEnd, state });
  };
  let cursor = start;
  // The last observation at or before `start` may still hold into the window.
  for (let i = Math.max(0, lastAtOrBefore(sorted, start)); i < sorted.length; i++) {
    const o = sorted[i]!;
    if (o.ts >= end) break;
    const next = sorted[i + 1];
    const holdsUntil = Math.min(next ? next.ts : Number.POSITIVE_INFINITY, o.ts + opts.offlineAfterMs, end);
    const segStart = Math.max(o.ts, start);
    if (holdsUntil <= segStart) continue;
    push(cursor, segStart, 'unknown');
    push(segStart, holdsUntil, o.state);
    cursor = holdsUntil;
  }
  push(cursor, end, 'unknown');
  return out;
}

/** Index of the last observation with ts <= t, or -1. */
export function lastAtOrBefore(sorted: readonly Observation[], t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.ts <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
