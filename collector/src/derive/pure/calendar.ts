/**
 * Calendar days in an IANA time zone, without a date library: a day is [start, end) in ms UTC.
 * Offsets are looked up with Intl, so DST zones work too (a day may be 23 or 25 hours long).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Offset of `tz` from UTC at instant `ts`, in ms (Asia/Shanghai: +8 h). */
export function tzOffsetMs(ts: number, tz: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(ts))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return asUtc - Math.floor(ts / 1000) * 1000;
}

interface DaySpan {
  start: number;
  end: number;
  date: string;
}

/** Recently used days per zone: ingest asks for the day of every message, and Intl is slow. */
const recentDays = new Map<string, DaySpan[]>();
const RECENT_DAYS_KEPT = 64;

/** The calendar date (YYYY-MM-DD) of instant `ts` in `tz`. */
export function dateOf(ts: number, tz: string): string {
  let spans = recentDays.get(tz);
  if (spans) {
    for (const s of spans) if (ts >= s.start && ts < s.end) return s.date;
  } else {
    spans = [];
    recentDays.set(tz, spans);
  }
  const date = new Date(ts + tzOffsetMs(ts, tz)).toISOString().slice(0, 10);
  const { start, end } = dayBounds(date, tz);
  if (ts >= start && ts < end) {
    spans.unshift({ start, end, date });
    if (spans.length > RECENT_DAYS_KEPT) spans.pop();
  }
  return date;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === s;
}

/** Local midnight of `date` in `tz`, as ms UTC. */
export function startOfDate(date: string, tz: string): number {
  if (!isDate(date)) throw new Error(`invalid date ${JSON.stringify(date)}: use YYYY-MM-DD`);
  const utcMidnight = Date.parse(`${date}T00:00:00Z`);
  // Two passes settle the offset even when midnight sits next to a DST change.
  let guess = utcMidnight - tzOffsetMs(utcMidnight, tz);
  guess = utcMidnight - tzOffsetMs(guess, tz);
  return guess;
}

export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Day bounds already computed, per zone and date: a year's query asks for 366 of them, and Intl is slow. */
const boundsCache = new Map<string, { start: number; end: number }>();
const BOUNDS_KEPT = 50_000;

/** [start, end) of `date` in `tz`. */
export function dayBounds(date: string, tz: string): { start: number; end: number } {
  const key = `${tz}|${date}`;
  const hit = boundsCache.get(key);
  if (hit) return { start: hit.start, end: hit.end };
  const bounds = { start: startOfDate(date, tz), end: startOfDate(addDays(date, 1), tz) };
  if (boundsCache.size >= BOUNDS_KEPT) boundsCache.clear();
  boundsCache.set(key, bounds);
  return { start: bounds.start, end: bounds.end };
}

/** Every date from `from` to `to`, both included. */
export function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** ISO 8601 with the zone's offset, e.g. 2026-11-29T08:00:00.000+08:00 (SPEC: times with offset). */
export function isoWithOffset(ts: number, tz: string): string {
  const off = tzOffsetMs(ts, tz);
  const local = new Date(ts + off).toISOString().slice(0, 23);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off) / 60_000;
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
