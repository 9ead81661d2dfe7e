import { serviceIntervals, subtract } from './service-hours.ts';
import { OUT_OF_HOURS_MIN_MS } from './settings.ts';
import type { DetectSettings, Emit, Interval, Segment } from './types.ts';

/**
 * out_of_hours: running outside `serviceHours` with no booking covering it, for at least 10
 * minutes in one stretch. Off when the instrument has no service hours. Bookings are plain input
 * (the platform's, through the runner's `bookingsOf`); a booking covers its [start, end).
 */
export interface OutOfHoursState {
  cur: Interval | null;
  open: boolean;
}

export function initOutOfHours(): OutOfHoursState {
  return { cur: null, open: false };
}

export function outOfHoursOnSegment(
  st: OutOfHoursState,
  seg: Segment,
  settings: DetectSettings,
  bookings: readonly Interval[],
  emit: Emit,
): void {
  const hours = settings.serviceHours;
  if (hours === null || seg.state !== 'running') {
    closeOutOfHours(st, settings, emit);
    return;
  }
  const covers = [...serviceIntervals(hours, seg.start, seg.end, settings.timezone), ...bookings];
  for (const piece of subtract(seg.start, seg.end, covers)) {
    if (st.cur && piece.start === st.cur.end) st.cur.end = piece.end;
    else {
      closeOutOfHours(st, settings, emit);
      st.cur = { ...piece };
    }
    if (!st.open && st.cur.end - st.cur.start >= OUT_OF_HOURS_MIN_MS) {
      st.open = true;
      emit(finding(st.cur.start, null, settings));
    }
  }
  if (st.cur && st.cur.end < seg.end) closeOutOfHours(st, settings, emit);
}

export function closeOutOfHours(st: OutOfHoursState, settings: DetectSettings, emit: Emit): void {
  if (st.open && st.cur) emit(finding(st.cur.start, st.cur.end, settings));
  st.cur = null;
  st.open = false;
}

function finding(start: number, end: number | null, settings: DetectSettings) {
  return {
    type: 'out_of_hours' as const,
    start,
    end,
    sticky: false,
    severity: 'info' as const,
    detail: { serviceHours: settings.serviceHours },
  };
}
