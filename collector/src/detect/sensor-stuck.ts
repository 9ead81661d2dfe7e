import { isPowered } from '@dayi/protocols';
import { IMPOSSIBLE_MAX_VOLTAGE_V, IMPOSSIBLE_MIN_CURRENT_A } from './settings.ts';
import type { DetectSettings, Emit, Finding, Sample } from './types.ts';

/**
 * sensor_stuck, two ways:
 * - a frozen reading: the same signal value in `staleSamples` consecutive samples while powered
 *   (a meter that stopped updating, a gateway repeating its last register). The episode runs from
 *   the first of those samples to the first different one, or to power-off, or to stale evidence.
 * - an impossible reading in any telemetry: negative power, or current while the voltage is zero
 *   (a CT clamp on the wrong conductor, a meter that lost its voltage reference). One point each.
 */
export interface StuckState {
  value: number | null;
  count: number;
  start: number;
  open: boolean;
}

export function initStuck(): StuckState {
  return { value: null, count: 0, start: 0, open: false };
}

export function stuckOnSample(st: StuckState, s: Sample, settings: DetectSettings, emit: Emit): void {
  if (!isPowered(s.state)) {
    endStuck(st, s.ts, emit);
    return;
  }
  if (s.value === null) return;
  if (st.count > 0 && s.value === st.value) st.count++;
  else {
    endStuck(st, s.ts, emit);
    st.value = s.value;
    st.count = 1;
    st.start = s.ts;
  }
  if (!st.open && st.count >= settings.staleSamples) {
    st.open = true;
    emit(frozen(st, null, settings));
  }
}

export function endStuck(st: StuckState, at: number, emit: Emit, settings?: DetectSettings): void {
  if (st.open) emit(frozen(st, at, settings));
  st.value = null;
  st.count = 0;
  st.open = false;
}

function frozen(st: StuckState, end: number | null, settings?: DetectSettings): Finding {
  return {
    type: 'sensor_stuck',
    start: st.start,
    end,
    sticky: false,
    severity: 'warning',
    detail: {
      reason: 'frozen_reading',
      value: st.value,
      samples: st.count,
      ...(settings ? { staleSamples: settings.staleSamples } : {}),
    },
  };
}

/** Why a telemetry reading cannot be true, or null. */
export function impossibleReading(metrics: Readonly<Record<string, number>>): string | null {
  const power = metrics.power_w;
  if (power !== undefined && power < 0) return 'negative_power';
  const current = metrics.current_a;
  const voltage = metrics.voltage_v;
  if (
    current !== undefined &&
    voltage !== undefined &&
    voltage < IMPOSSIBLE_MAX_VOLTAGE_V &&
    current > IMPOSSIBLE_MIN_CURRENT_A
  ) {
    return 'current_without_voltage';
  }
  return null;
}

export function impossibleFinding(ts: number, metrics: Readonly<Record<string, number>>): Finding | null {
  const reason = impossibleReading(metrics);
  if (reason === null) return null;
  const shown: Record<string, number> = {};
  for (const k of ['power_w', 'current_a', 'voltage_v']) if (metrics[k] !== undefined) shown[k] = metrics[k]!;
  return {
    type: 'sensor_stuck',
    start: ts,
    end: ts,
    sticky: false,
    severity: 'warning',
    detail: { reason, metrics: shown },
  };
}
