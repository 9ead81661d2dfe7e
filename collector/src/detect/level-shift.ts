import type { LearnedBands } from './histogram.ts';
import { SHIFT_DECISION, SHIFT_SLACK_SIGMAS, SHIFT_Z_CLIP } from './settings.ts';
import { type DetectSettings, type Emit, MINUTE_MS, type Sample } from './types.ts';

/**
 * level_shift: a sustained change of the running baseline (a vacuum pump going bad draws more, a
 * lamp going weak draws less). A two-sided CUSUM on the running signal in units of the learned
 * running σ, weighted by time so the sampling rate does not matter:
 *   S⁺ ← max(0, S⁺ + (z − k)·Δt),  S⁻ ← max(0, S⁻ + (−z − k)·Δt),  z = (x − median) / σ, Δt in minutes,
 * with k = 1 σ and the decision h = 120 σ·min (3 σ for an hour, 2 σ for two), z clipped to ±4 so
 * that a short burst far outside (power_out_of_band's business) does not pass for a new level.
 * The episode starts
 * at the estimated onset (the last time the sum was zero) and ends when the sum is back to zero,
 * which happens when the level returns, or when 14 days of the new level have become the baseline.
 * The sums are capped at 2h so that a return is seen within hours, not weeks.
 */
export interface ShiftSide {
  sum: number;
  onset: number | null;
  open: boolean;
  /** Mean of the readings since the onset, for the detail. */
  total: number;
  n: number;
}

export interface LevelShiftState {
  up: ShiftSide;
  down: ShiftSide;
  /** ts of the previous running sample. */
  prevTs: number | null;
}

const side = (): ShiftSide => ({ sum: 0, onset: null, open: false, total: 0, n: 0 });

export function initLevelShift(): LevelShiftState {
  return { up: side(), down: side(), prevTs: null };
}

export function levelShiftOnSample(
  st: LevelShiftState,
  s: Sample,
  settings: DetectSettings,
  learned: LearnedBands,
  emit: Emit,
): void {
  if (s.state !== 'running' || s.value === null) return;
  const base = learned.running;
  const prev = st.prevTs;
  st.prevTs = s.ts;
  if (!base) return;
  const dtMs = prev !== null && s.ts - prev <= settings.offlineAfterMs ? s.ts - prev : 0;
  const z = Math.max(-SHIFT_Z_CLIP, Math.min(SHIFT_Z_CLIP, (s.value - base.median) / base.sigma));
  const ctx = { base, value: s.value, ts: s.ts, from: s.ts - dtMs, emit };
  step(st.up, z - SHIFT_SLACK_SIGMAS, dtMs / MINUTE_MS, 'up', ctx);
  step(st.down, -z - SHIFT_SLACK_SIGMAS, dtMs / MINUTE_MS, 'down', ctx);
}

function step(
  sd: ShiftSide,
  x: number,
  dt: number,
  direction: 'up' | 'down',
  c: { base: { median: number; sigma: number }; value: number; ts: number; from: number; emit: Emit },
): void {
  const before = sd.sum;
  sd.sum = Math.min(2 * SHIFT_DECISION, Math.max(0, sd.sum + x * dt));
  if (before === 0 && sd.sum > 0) {
    sd.onset = c.from;
    sd.total = 0;
    sd.n = 0;
  }
  if (sd.sum > 0) {
    sd.total += c.value;
    sd.n++;
  }
  const detail = () => ({
    direction,
    baseline: c.base.median,
    sigma: c.base.sigma,
    level: sd.n > 0 ? Math.round((sd.total / sd.n) * 10) / 10 : null,
  });
  if (sd.sum === 0) {
    if (sd.open && sd.onset !== null) {
      c.emit({
        type: 'level_shift',
        start: sd.onset,
        end: c.ts,
        sticky: false,
        severity: 'warning',
        detail: detail(),
      });
    }
    sd.open = false;
    sd.onset = null;
    return;
  }
  if (!sd.open && sd.sum >= SHIFT_DECISION && sd.onset !== null) {
    sd.open = true;
    c.emit({
      type: 'level_shift',
      start: sd.onset,
      end: null,
      sticky: false,
      severity: 'warning',
      detail: detail(),
    });
  }
}
