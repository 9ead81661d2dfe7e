import type { DerivedState, State } from '@dayi/protocols';

/** The latest observation (highest ts, ties: last inserted) and the start of its run. */
export interface LatestRun {
  ts: number;
  state: State;
  /** Start of the run of equal consecutive states ending at `ts` (no evidence gap inside). */
  runStart: number;
}

/**
 * The state the instrument is in now: the latest observation's while it is fresh, else `unknown`
 * since the instant its evidence went stale. Never reported: `unknown` since null.
 */
export function currentState(
  latest: LatestRun | null,
  offlineAfterMs: number,
  now: number,
): { state: DerivedState; since: number | null } {
  if (!latest) return { state: 'unknown', since: null };
  const staleAt = latest.ts + offlineAfterMs;
  if (now >= staleAt) return { state: 'unknown', since: staleAt };
  return { state: latest.state, since: latest.runStart };
}

/** Facts of `instrument_status` that decide whether the instrument is online. */
export interface OnlineFacts {
  /** 1/0 from the latest `status` message (by arrival), null when none arrived. */
  online: number | boolean | null;
  /** Arrival of the latest message, collector clock. */
  lastReceivedAt: number | null;
  /** Event time of the newest message (its `ts`), null when none arrived. */
  lastSeen: number | null;
  /** The inputs' link state from the latest status that listed them, null when none did. */
  inputs?: readonly { connected: boolean }[] | null;
}

/**
 * Online follows the agent's link state and `offlineAfter`: the last status (by arrival) did not
 * say offline and, if it listed the inputs, at least one of them is connected; and the evidence is
 * fresh in both clocks: a message arrived less than `offlineAfter` ago AND the newest event time is
 * less than `offlineAfter` old. An agent replaying 100-day-old data from its outbox is connected,
 * but its instrument has said nothing for 100 days: not online.
 */
export function isOnline(facts: OnlineFacts, offlineAfterMs: number, now: number): boolean {
  if (facts.online === 0 || facts.online === false) return false;
  if (facts.inputs && facts.inputs.length > 0 && !facts.inputs.some((i) => i.connected)) return false;
  if (facts.lastReceivedAt === null || now - facts.lastReceivedAt >= offlineAfterMs) return false;
  return facts.lastSeen !== null && now - facts.lastSeen < offlineAfterMs;
}
