import { SHORT_CYCLE_WINDOW_MS } from './settings.ts';
import type { DetectSettings, Emit, Sample } from './types.ts';

/**
 * short_cycling: more state changes within an hour than `shortCycle.maxChangesPerHour`. A change is
 * two consecutive observations in different states with no evidence gap between them. The episode
 * starts at the first change of the first hour that held too many and ends when the sliding hour
 * holds no more than allowed again (or when the evidence goes stale).
 */
export interface ShortCyclingState {
  /** ts of the latest max + 1 changes. */
  recent: number[];
  open: boolean;
  start: number | null;
}

export function initShortCycling(): ShortCyclingState {
  return { recent: [], open: false, start: null };
}

export function shortCyclingOnSample(
  st: ShortCyclingState,
  s: Sample,
  prev: { ts: number; state: string } | null,
  settings: DetectSettings,
  emit: Emit,
): void {
  const max = settings.shortCycle.maxChangesPerHour;
  expire(st, s.ts, max, emit);
  if (!prev || prev.state === s.state || s.ts === prev.ts) return;
  st.recent.push(s.ts);
  while (st.recent.length > max + 1) st.recent.shift();
  if (!st.open && st.recent.length === max + 1 && st.recent[0]! > s.ts - SHORT_CYCLE_WINDOW_MS) {
    st.open = true;
    st.start = st.recent[0]!;
    emit({
      type: 'short_cycling',
      start: st.start,
      end: null,
      sticky: false,
      severity: 'warning',
      detail: { maxChangesPerHour: max, changes: max + 1 },
    });
  }
}

/** Ends the episode at the instant the oldest of the last max+1 changes left the hour, if before `t`. */
function expire(st: ShortCyclingState, t: number, max: number, emit: Emit): void {
  if (!st.open) return;
  const endsAt = st.recent[0]! + SHORT_CYCLE_WINDOW_MS;
  if (endsAt <= t) close(st, endsAt, max, emit);
}

export function shortCyclingOnStale(
  st: ShortCyclingState,
  at: number,
  settings: DetectSettings,
  emit: Emit,
): void {
  const max = settings.shortCycle.maxChangesPerHour;
  expire(st, at, max, emit);
  if (st.open) close(st, at, max, emit);
  st.recent = [];
}

function close(st: ShortCyclingState, at: number, max: number, emit: Emit): void {
  if (st.start !== null) {
    emit({
      type: 'short_cycling',
      start: st.start,
      end: at,
      sticky: false,
      severity: 'warning',
      detail: { maxChangesPerHour: max, changes: max + 1 },
    });
  }
  st.open = false;
  st.start = null;
}
