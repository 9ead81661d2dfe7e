import type { LearnedBands } from './histogram.ts';
import { OUT_OF_BAND_MIN_MS } from './settings.ts';
import { BAND_STATES, type BandState, type DetectSettings, type Emit, type Sample } from './types.ts';

/**
 * power_out_of_band: the signal outside the band of its state for at least 5 minutes. The band is
 * the configured one (`anomaly.powerBand.<state>`), else the one learned from the instrument's last
 * 14 days in that state (histogram.ts). The episode starts at the first sample outside and ends at
 * the first sample back inside (or in a state without a band), or when the evidence goes stale.
 */
export interface OutOfBandState {
  /** First sample of the current run outside the band, null when inside. */
  start: number | null;
  open: boolean;
  state: BandState | null;
  band: [number, number] | null;
  source: 'configured' | 'learned' | null;
  /** The reading furthest outside the band in this run. */
  extreme: number | null;
}

export function initOutOfBand(): OutOfBandState {
  return { start: null, open: false, state: null, band: null, source: null, extreme: null };
}

export function bandFor(
  state: string,
  settings: DetectSettings,
  learned: LearnedBands,
): { band: [number, number]; source: 'configured' | 'learned' } | null {
  if (!(BAND_STATES as readonly string[]).includes(state)) return null;
  const s = state as BandState;
  const configured = settings.powerBand[s];
  if (configured) return { band: [configured[0], configured[1]], source: 'configured' };
  const l = learned[s];
  return l ? { band: [l.lo, l.hi], source: 'learned' } : null;
}

export function outOfBandOnSample(
  st: OutOfBandState,
  s: Sample,
  settings: DetectSettings,
  learned: LearnedBands,
  emit: Emit,
): void {
  if (s.value === null) return; // a state message carries no reading
  const b = bandFor(s.state, settings, learned);
  const outside = b !== null && (s.value < b.band[0] || s.value > b.band[1]);
  if (!outside) {
    endOutOfBand(st, s.ts, emit);
    return;
  }
  if (st.start === null) {
    st.start = s.ts;
    st.extreme = s.value;
  } else if (st.extreme !== null && distance(s.value, b.band) > distance(st.extreme, b.band)) {
    st.extreme = s.value;
  }
  st.state = s.state as BandState;
  st.band = b.band;
  st.source = b.source;
  if (!st.open && s.ts - st.start >= OUT_OF_BAND_MIN_MS) {
    st.open = true;
    emit({
      type: 'power_out_of_band',
      start: st.start,
      end: null,
      sticky: false,
      severity: 'warning',
      detail: detail(st, settings),
    });
  }
}

export function endOutOfBand(st: OutOfBandState, at: number, emit: Emit, settings?: DetectSettings): void {
  if (st.start === null) return;
  if (st.open) {
    emit({
      type: 'power_out_of_band',
      start: st.start,
      end: at,
      sticky: false,
      severity: 'warning',
      detail: detail(st, settings),
    });
  }
  Object.assign(st, initOutOfBand());
}

function distance(v: number, band: readonly [number, number]): number {
  return v < band[0] ? band[0] - v : v - band[1];
}

function detail(st: OutOfBandState, settings?: DetectSettings): Record<string, unknown> {
  return {
    state: st.state,
    band: st.band,
    bandSource: st.source,
    extreme: st.extreme,
    ...(settings ? { signal: settings.signal } : {}),
  };
}
