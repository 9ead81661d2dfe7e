import type { State } from '../mqtt/payloads.ts';

/** Instrument states ranked for combining several state machines: the highest wins. */
const RANK: Record<State, number> = { off: 0, standby: 1, idle: 2, running: 3, fault: 4 };

/**
 * Maps a vendor state text (a LocalizedText such as `Executing`) through a profile's map.
 * Matching ignores case and surrounding spaces, since servers differ in both.
 */
export function mapVendorState(text: string, map: Readonly<Record<string, State>>): State | undefined {
  const key = text.trim().toLowerCase();
  for (const [vendor, state] of Object.entries(map)) if (vendor.trim().toLowerCase() === key) return state;
  return undefined;
}

/** Maps a vendor text to a number through a `map` of a metric node (e.g. OperationMode codes). */
export function mapVendorNumber(text: string, map: Readonly<Record<string, number>>): number | undefined {
  const key = text.trim().toLowerCase();
  for (const [vendor, n] of Object.entries(map)) if (vendor.trim().toLowerCase() === key) return n;
  return undefined;
}

export interface SourceState {
  state: State | undefined;
  /** A device-level machine: when it says off or standby, that is the instrument's state. */
  dominant?: boolean;
}

/**
 * One state from several state machines of one instrument (a LADS device state and each
 * functional unit's state). A dominant source saying off or standby wins (a device shut down or
 * asleep is not running, whatever its units last said); otherwise any fault wins, then any
 * running unit, then idle, standby, off. Sources with no current state (not yet read, or a bad
 * status) are left out.
 */
export function combineStates(sources: Iterable<SourceState>): State | undefined {
  let best: State | undefined;
  let gate: State | undefined;
  for (const { state, dominant } of sources) {
    if (state === undefined) continue;
    if (
      dominant &&
      (state === 'off' || state === 'standby') &&
      (gate === undefined || RANK[state] < RANK[gate])
    )
      gate = state;
    if (best === undefined || RANK[state] > RANK[best]) best = state;
  }
  return gate ?? best;
}
