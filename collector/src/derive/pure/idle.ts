export const DAY_MS = 86_400_000;

/** What the idle rule needs to know of one instrument (from `instrument_status`). */
export interface IdleFacts {
  /** Event time of the first accepted message, null when none ever arrived. */
  firstSeen: number | null;
  /** Event time of the latest powered observation, null when never powered. */
  lastPoweredAt: number | null;
}

export type IdleVerdict =
  | { kind: 'never_reported' }
  | {
      kind: 'idle' | 'active';
      /** The reference instant: lastPoweredAt, or firstSeen for an instrument never seen powered. */
      since: number;
      /** Whole days (floor) since `since`. */
      idleDays: number;
    };

/**
 * SPEC: idle when no powered state for at least `idleDays`. An instrument never seen powered counts
 * from its first message; one that never reported is `never_reported`, not idle.
 */
export function idleVerdict(facts: IdleFacts, idleDays: number, now: number): IdleVerdict {
  const since = facts.lastPoweredAt ?? facts.firstSeen;
  if (since === null) return { kind: 'never_reported' };
  return {
    kind: now - since >= idleDays * DAY_MS ? 'idle' : 'active',
    since,
    idleDays: wholeDaysSince(since, now),
  };
}

/** Whole days from `ts` to `now`, floored, never negative. */
export function wholeDaysSince(ts: number, now: number): number {
  return Math.max(0, Math.floor((now - ts) / DAY_MS));
}

/** The idle threshold that applies: the query's `days`, else the instrument's own, else the config's. */
export function effectiveIdleDays(
  queryDays: number | undefined,
  instrumentDays: number | null | undefined,
  configDays: number,
): number {
  return queryDays ?? instrumentDays ?? configDays;
}

/**
 * Why an idle instrument is listed: `silent` when its newest message (event time) is older than
 * offlineAfter, so that its state now is unknown; `no_state` when it reports but nothing it ever
 * sent gave a state; else `not_powered`: it reports, and reports that it is off.
 */
export function idleReason(
  lastSeen: number,
  hasState: boolean,
  offlineAfterMs: number,
  now: number,
): 'silent' | 'not_powered' | 'no_state' {
  if (now - lastSeen >= offlineAfterMs) return 'silent';
  return hasState ? 'not_powered' : 'no_state';
}
