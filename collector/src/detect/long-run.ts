import { type DetectSettings, type Emit, HOUR_MS, type Segment } from './types.ts';

/**
 * long_run: running continuously for longer than `longRunHours`. A run is running evidence without
 * a gap (observations at most offlineAfter apart, all running). The episode starts when the run
 * crosses longRunHours (its detail names when the run began) and ends with the run.
 */
export interface LongRunState {
  runStart: number | null;
  runEnd: number;
  open: boolean;
}

export function initLongRun(): LongRunState {
  return { runStart: null, runEnd: 0, open: false };
}

export function longRunOnSegment(st: LongRunState, seg: Segment, settings: DetectSettings, emit: Emit): void {
  if (seg.state !== 'running') {
    closeLongRun(st, settings, emit);
    return;
  }
  if (st.runStart !== null && seg.start === st.runEnd) st.runEnd = seg.end;
  else {
    closeLongRun(st, settings, emit);
    st.runStart = seg.start;
    st.runEnd = seg.end;
  }
  const limit = settings.longRunHours * HOUR_MS;
  if (!st.open && st.runEnd - st.runStart >= limit) {
    st.open = true;
    emit(finding(st.runStart, null, settings));
  }
}

export function closeLongRun(st: LongRunState, settings: DetectSettings, emit: Emit): void {
  if (st.open && st.runStart !== null) emit(finding(st.runStart, st.runEnd, settings));
  st.runStart = null;
  st.open = false;
}

function finding(runStart: number, runEnd: number | null, settings: DetectSettings) {
  return {
    type: 'long_run' as const,
    start: runStart + settings.longRunHours * HOUR_MS,
    end: runEnd,
    sticky: false,
    severity: 'warning' as const,
    detail: {
      longRunHours: settings.longRunHours,
      runStartAt: runStart,
      ...(runEnd === null ? {} : { runHours: Math.round(((runEnd - runStart) / HOUR_MS) * 100) / 100 }),
    },
  };
}
