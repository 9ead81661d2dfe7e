/** When the weekly digest is due, in the collector's time zone. Pure. */
import { addDays, dateOf, startOfDate, tzOffsetMs } from '../../derive/pure/calendar.ts';
import { WEEKDAYS } from './config.ts';

/** Local wall time `HH:MM` of `date` in `tz`, as ms UTC (DST-safe: offset taken at that instant). */
export function localInstant(date: string, time: string, tz: string): number {
  const [h, m] = time.split(':').map(Number) as [number, number];
  const wall = Date.parse(`${date}T00:00:00Z`) + (h * 60 + m) * 60_000;
  let guess = wall - tzOffsetMs(startOfDate(date, tz), tz);
  guess = wall - tzOffsetMs(guess, tz);
  return guess;
}

/** The latest scheduled instant at or before `now`: weekday `day` at `time`, local. */
export function latestSlot(
  now: number,
  schedule: { day: (typeof WEEKDAYS)[number]; time: string },
  tz: string,
): number {
  const today = dateOf(now, tz);
  const todayIndex = (new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7;
  const back = (todayIndex - WEEKDAYS.indexOf(schedule.day) + 7) % 7;
  let slot = localInstant(addDays(today, -back), schedule.time, tz);
  if (slot > now) slot = localInstant(addDays(today, -back - 7), schedule.time, tz);
  return slot;
}
