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

/** Facts of `instrument_status` that decide whether the agent's evidence is fresh. */
export interface OnlineFacts {
  /** 1/0 from the latest `status` message, null when none arrived. */
  online: number | boolean | null;
  lastReceivedAt: number | null;
}

/** Online: the last status did not say offline, and something arrived within `offlineAfter`. */
export function isOnline(facts: OnlineFacts, offlineAfterMs: number, now: number): boolean {
  if (facts.online === 0 || facts.online === false) return false;
  return facts.lastReceivedAt !== null && now - facts.lastReceivedAt < offlineAfterMs;
}
