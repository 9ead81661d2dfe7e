import type { TopicKind } from '@dayi/protocols';
import { type ClockSkewState, clockSkewOnArrival, initClockSkew } from './clock-skew.ts';
import { initOffline, type OfflineState, offlineOnArrival, offlineOnClock } from './offline.ts';
import type { Emit } from './types.ts';

/**
 * The detectors of the link, folded over an instrument's messages in ARRIVAL order (the ledger's
 * order): `offline` and `clock_skew`. Arrival order is what they are about, so a replay is simply
 * more arrivals. These functions update the state they are given (the shell calls them per message).
 */
export interface ArrivalState {
  offline: OfflineState;
  skew: ClockSkewState;
}

export interface Arrival {
  receivedAt: number;
  ts: number;
  kind: TopicKind;
  /** `online` of a status message; null for other kinds. */
  online: boolean | null;
}

export interface ArrivalEnv {
  offlineAfterMs: number;
  /** Collector start times (arrival clock), ascending. */
  starts: readonly number[];
  /** When the collector was shutting down (its own broker's wills are ignored then). */
  shutdowns?: readonly { from: number; to: number | null }[];
  clockSkew: boolean;
  emit: Emit;
}

export function initArrivals(): ArrivalState {
  return { offline: initOffline(), skew: initClockSkew() };
}

export function onArrival(st: ArrivalState, m: Arrival, env: ArrivalEnv): void {
  offlineOnArrival(st.offline, { receivedAt: m.receivedAt, status: m.online }, env);
  if (env.clockSkew) {
    clockSkewOnArrival(st.skew, { receivedAt: m.receivedAt, ts: m.ts, will: m.online === false }, env.emit);
  }
}

/** Time passing with nothing arriving: `now` on the arrival clock. */
export function onArrivalClock(st: ArrivalState, now: number, env: ArrivalEnv): void {
  offlineOnClock(st.offline, now, env);
}
