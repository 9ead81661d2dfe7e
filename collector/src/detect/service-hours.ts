import { addDays, dateOf, startOfDate, tzOffsetMs } from '../derive/pure/calendar.ts';
import { type Interval, MINUTE_MS } from './types.ts';

/**
 * Service hours as a lab writes them: "Mon-Fri 08:00-18:00", several parts separated by `,` or
 * `;` ("Mon-Fri 08:00-12:00, Mon-Fri 13:00-18:00; Sat 09:00-12:00"). Days are Mon..Sun, one or a
 * range (a range may wrap: Fri-Mon); times are local HH:MM in the collector's time zone, the end
 * after the start (24:00 allowed). An overnight shift is two parts: "Mon-Fri 22:00-24:00, Tue-Sat 00:00-06:00".
 */
export interface ServiceWindow {
  /** Days of the week it applies to, 0 = Sunday … 6 = Saturday. */
  days: readonly number[];
  /** Minutes after local midnight, [from, to). */
  from: number;
  to: number;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const PART = /^([A-Za-z]{3})(?:-([A-Za-z]{3}))?\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

export type ParsedServiceHours = { ok: true; windows: ServiceWindow[] } | { ok: false; error: string };

export function parseServiceHours(text: string): ParsedServiceHours {
  const parts = text
    .split(/[,;]/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) return { ok: false, error: 'is empty; write e.g. "Mon-Fri 08:00-18:00"' };
  const windows: ServiceWindow[] = [];
  for (const part of parts) {
    const m = PART.exec(part);
    if (!m) {
      return {
        ok: false,
        error: `${JSON.stringify(part)} is not "Day[-Day] HH:MM-HH:MM" (e.g. "Mon-Fri 08:00-18:00")`,
      };
    }
    const first = dayIndex(m[1]!);
    const last = m[2] === undefined ? first : dayIndex(m[2]);
    if (first < 0 || last < 0) {
      return { ok: false, error: `${JSON.stringify(part)}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun` };
    }
    const from = Number(m[3]) * 60 + Number(m[4]);
    const to = Number(m[5]) * 60 + Number(m[6]);
    if (Number(m[4]) > 59 || Number(m[6]) > 59 || from > 24 * 60 || to > 24 * 60) {
      return { ok: false, error: `${JSON.stringify(part)}: times are 00:00 to 24:00` };
    }
    if (to <= from) {
      return {
        ok: false,
        error: `${JSON.stringify(part)}: the end must be after the start (split an overnight shift in two parts)`,
      };
    }
    const days: number[] = [];
    for (let d = first; ; d = (d + 1) % 7) {
      days.push(d);
      if (d === last) break;
    }
    windows.push({ days, from, to });
  }
  return { ok: true, windows };
}

function dayIndex(name: string): number {
  return DAYS.findIndex((d) => d.toLowerCase() === name.toLowerCase());
}

const parsedCache = new Map<string, ServiceWindow[] | null>();

/** Parsed windows of a (validated) spec; null when it does not parse. */
export function serviceWindows(text: string): ServiceWindow[] | null {
  let w = parsedCache.get(text);
  if (w === undefined) {
    const p = parseServiceHours(text);
    w = p.ok ? p.windows : null;
    if (parsedCache.size > 1000) parsedCache.clear();
    parsedCache.set(text, w);
  }
  return w;
}

/** Local wall-clock `minutes` after midnight of `date` in `tz`, as ms UTC (DST-safe). */
export function localTime(date: string, minutes: number, tz: string): number {
  const midnight = startOfDate(date, tz);
  const guess = midnight + minutes * MINUTE_MS;
  return guess + (tzOffsetMs(midnight, tz) - tzOffsetMs(guess, tz));
}

const dayCache = new Map<string, Interval[]>();

/** The service intervals of one local date, sorted and merged. */
function intervalsOfDate(
  text: string,
  windows: readonly ServiceWindow[],
  date: string,
  tz: string,
): Interval[] {
  const key = `${tz}\u0000${text}\u0000${date}`;
  let out = dayCache.get(key);
  if (out) return out;
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
  const raw = windows
    .filter((w) => w.days.includes(weekday))
    .map((w) => ({ start: localTime(date, w.from, tz), end: localTime(date, w.to, tz) }))
    .sort((a, b) => a.start - b.start);
  out = [];
  for (const i of raw) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  if (dayCache.size > 10_000) dayCache.clear();
  dayCache.set(key, out);
  return out;
}

/** The parts of [a, b) inside service hours, sorted. */
export function serviceIntervals(text: string, a: number, b: number, tz: string): Interval[] {
  const windows = serviceWindows(text);
  if (!windows || b <= a) return [];
  const out: Interval[] = [];
  const last = dateOf(b - 1, tz);
  for (let date = dateOf(a, tz); ; date = addDays(date, 1)) {
    for (const i of intervalsOfDate(text, windows, date, tz)) {
      const start = Math.max(a, i.start);
      const end = Math.min(b, i.end);
      if (end > start) out.push({ start, end });
    }
    if (date >= last) break;
  }
  return out;
}

/** [a, b) minus the union of `covers` (each sorted or not), as sorted disjoint intervals. */
export function subtract(a: number, b: number, covers: readonly Interval[]): Interval[] {
  const sorted = covers.filter((c) => c.end > a && c.start < b).sort((x, y) => x.start - y.start);
  const out: Interval[] = [];
  let cursor = a;
  for (const c of sorted) {
    if (c.start > cursor) out.push({ start: cursor, end: Math.min(c.start, b) });
    cursor = Math.max(cursor, c.end);
    if (cursor >= b) break;
  }
  if (cursor < b) out.push({ start: cursor, end: b });
  return out;
}
