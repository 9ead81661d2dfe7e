import type { State } from './mqtt/payloads.ts';

/** SPEC thresholds on one signal (W for power_w, A for current_a, …). */
export interface SignalThresholds {
  standby: number;
  idle: number;
  running: number;
}

/**
 * SPEC's rule, with no memory: below `standby` is off; from standby to idle is standby; from idle to
 * running is idle; at or above running is running. The agent adds hysteresis and dwell on top.
 */
export function classifySignal(value: number, t: SignalThresholds): State {
  if (value >= t.running) return 'running';
  if (value >= t.idle) return 'idle';
  if (value >= t.standby) return 'standby';
  return 'off';
}
