import type { Emit, Finding, Sample, Severity } from './types.ts';

/**
 * vendor_fault: the instrument reported a fault, as a `fault` state (its OPC UA or Modbus fault
 * flag, through the agent) or as an `event` of type vendor_fault. A fault state is an episode that
 * ends at the next observation of another state; an event alone is a point that stays until a
 * person resolves it, or until a fault state episode around it ends.
 */
export interface FaultState {
  start: number | null;
}

export function initFault(): FaultState {
  return { start: null };
}

export function faultOnSample(st: FaultState, s: Sample, emit: Emit): void {
  if (s.state === 'fault') {
    if (st.start === null) {
      st.start = s.ts;
      emit(stateFinding(s.ts, null));
    }
  } else endFault(st, s.ts, emit);
}

export function endFault(st: FaultState, at: number, emit: Emit): void {
  if (st.start !== null) emit(stateFinding(st.start, at));
  st.start = null;
}

function stateFinding(start: number, end: number | null): Finding {
  return {
    type: 'vendor_fault',
    start,
    end,
    sticky: false,
    severity: 'critical',
    detail: { source: 'state' },
  };
}

/** A vendor_fault event from the agent. */
export function faultEventFinding(
  ts: number,
  severity: Severity,
  detail: Record<string, unknown> | undefined,
): Finding {
  return {
    type: 'vendor_fault',
    start: ts,
    end: ts,
    sticky: true,
    severity: severity === 'info' ? 'warning' : severity,
    detail: { source: 'event', ...(detail ?? {}) },
  };
}
