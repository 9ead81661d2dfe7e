import type { Emit } from './types.ts';

/**
 * offline: the link, so it follows ARRIVAL time, as `online` in GET /v1/instruments does (event
 * times of replayed data say nothing about when the link was up). Offline begins
 * - offlineAfter after the last message arrived, when nothing else arrives (`silent`), counted
 *   from the collector's own start when it restarted since: a collector that was down does not
 *   make every instrument offline;
 * - when the agent's will arrives (retained `status` online:false; the broker sends it when the
 *   connection drops, e.g. on kill -9) (`will`).
 * It ends when a message arrives and the last status no longer says online:false (an agent sends
 * online:true first after it reconnects). Wills that arrive while the collector itself is shutting
 * down are not the agents': its broker publishes them as it drops every connection.
 */
export interface OfflineState {
  /** Arrival time of the last accepted message. */
  last: number | null;
  /** The last status was a will, and no online:true came since. */
  will: boolean;
  open: { start: number; reason: 'silent' | 'will' } | null;
}

export function initOffline(): OfflineState {
  return { last: null, will: false, open: null };
}

export interface OfflineEnv {
  offlineAfterMs: number;
  /** Collector start times (arrival clock), ascending. */
  starts: readonly number[];
  /** When the collector was shutting down: [from, to) until its next start (to null: still). */
  shutdowns?: readonly { from: number; to: number | null }[];
  emit: Emit;
}

/** When silence since `last` becomes offline, if nothing arrives: offlineAfter after the later of it and the collector's last start before `until`. */
export function silenceStart(last: number, until: number, env: OfflineEnv): number {
  let base = last;
  for (const s of env.starts) if (s > base && s <= until) base = s;
  return base + env.offlineAfterMs;
}

export function offlineOnArrival(
  st: OfflineState,
  m: { receivedAt: number; status: boolean | null },
  env: OfflineEnv,
): void {
  const r = m.receivedAt;
  if (m.status === false && env.shutdowns?.some((w) => r >= w.from && (w.to === null || r < w.to))) return;
  if (!st.open && st.last !== null) {
    const s = silenceStart(st.last, r, env);
    if (s < r) open(st, s, 'silent', env);
  }
  if (m.status === false) {
    st.will = true;
    if (!st.open) open(st, r, 'will', env);
  } else if (m.status === true) st.will = false;
  if (st.open && !st.will && m.status !== false) {
    env.emit(finding(st.open.start, r, st.open.reason));
    st.open = null;
  }
  st.last = st.last === null ? r : Math.max(st.last, r);
}

/** At arrival clock `now`: silence long enough is offline, before the next message tells. */
export function offlineOnClock(st: OfflineState, now: number, env: OfflineEnv): void {
  if (st.open || st.last === null) return;
  const s = silenceStart(st.last, now, env);
  if (s <= now) open(st, s, 'silent', env);
}

function open(st: OfflineState, start: number, reason: 'silent' | 'will', env: OfflineEnv): void {
  st.open = { start, reason };
  env.emit(finding(start, null, reason));
}

function finding(start: number, end: number | null, reason: 'silent' | 'will') {
  return {
    type: 'offline' as const,
    start,
    end,
    sticky: false,
    severity: 'warning' as const,
    detail: { reason },
  };
}
