import { DAY_MS, type IdleFacts, idleVerdict } from '../derive/pure/idle.ts';
import type { Finding } from './types.ts';

/**
 * idle (SPEC): no powered state for `idleDays`. The alert opens at the instant the instrument
 * crossed its idleDays (event time of its last powered observation, or of its first message, plus
 * idleDays) and ends at its next powered observation. An instrument that never reported is not
 * idle. Decided with `now`, as GET /v1/idle decides it, with the same rule (derive/pure/idle.ts).
 */
export function idleFinding(facts: IdleFacts, idleDays: number, now: number): Finding | null {
  const v = idleVerdict(facts, idleDays, now);
  if (v.kind !== 'idle') return null;
  return {
    type: 'idle',
    start: v.since + idleDays * DAY_MS,
    end: null,
    sticky: false,
    severity: 'info',
    detail: { idleDays, sinceAt: v.since, neverPowered: facts.lastPoweredAt === null },
  };
}

/** The idle episode that began at `start` ended at `poweredAt` (clamped: a late replay may predate it). */
export function idleEnded(open: Finding, poweredAt: number): Finding {
  return { ...open, end: Math.max(open.start, poweredAt) };
}
