/**
 * The province's headline figure: per week, how many instruments had not been powered for
 * `days` days. Pure: the caller gives each instrument's first message and its powered days.
 *
 * Definition (docs/api.md): an instrument counts as idle in a week (Monday to Sunday, calendar days
 * of the collector's time zone) when
 * - its first accepted message (event time) is at or before the start of the `days` calendar days
 *   that end with that Sunday, and
 * - none of those `days` days has any powered time (derived segments by event time, as in `/usage`).
 * An instrument that had not reported by then is not idle (it is never-reported, or too new to tell).
 */

/** Date arithmetic on YYYY-MM-DD strings (calendar dates, no time zone involved). */
export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** 0 = Monday … 6 = Sunday. */
export function weekday(date: string): number {
  return (new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7;
}

/** ISO 8601 week label of the week holding `date`, e.g. 2026-W48. */
export function isoWeek(date: string): string {
  const thursday = addDays(date, 3 - weekday(date));
  const year = Number(thursday.slice(0, 4));
  const jan4 = `${year}-01-04`;
  const week1Monday = addDays(jan4, -weekday(jan4));
  const week = Math.round((Date.parse(thursday) - Date.parse(week1Monday)) / (7 * 86_400_000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export interface TrendWeek {
  /** ISO week label. */
  week: string;
  /** Monday and Sunday of the week. */
  start: string;
  end: string;
  /** First day of the `days` calendar days that end with the Sunday. */
  windowStart: string;
}

/** Every week whose Sunday lies in [from, to], both dates included. */
export function weeksEndingBetween(from: string, to: string, days: number): TrendWeek[] {
  const out: TrendWeek[] = [];
  let sunday = addDays(from, (6 - weekday(from) + 7) % 7);
  for (; sunday <= to; sunday = addDays(sunday, 7)) {
    const start = addDays(sunday, -6);
    out.push({ week: isoWeek(start), start, end: sunday, windowStart: addDays(sunday, -(days - 1)) });
  }
  return out;
}

/**
 * A run of days with no powered time: strictly after `after` and strictly before `before`
 * (null: unbounded on that side, within the dates the caller looked at).
 */
export interface UnpoweredSpell {
  after: string | null;
  before: string | null;
}

export interface TrendInstrument {
  /** The group the instrument counts in (org, category…); null for none. */
  group: string | null;
  /** The local date of its first accepted message, null when it never reported. */
  firstSeenDate: string | null;
  /**
   * Its unpowered spells over the dates from the first window start to the last Sunday: at least
   * every spell of `days` days or more (shorter ones may be given, they change nothing).
   */
  spells: readonly UnpoweredSpell[];
}

/** The spells of a sorted list of powered dates: before the first, long gaps, after the last. */
export function spellsOf(poweredDates: readonly string[]): UnpoweredSpell[] {
  if (poweredDates.length === 0) return [{ after: null, before: null }];
  const out: UnpoweredSpell[] = [{ after: null, before: poweredDates[0]! }];
  for (let i = 1; i < poweredDates.length; i++) {
    if (addDays(poweredDates[i - 1]!, 1) < poweredDates[i]!)
      out.push({ after: poweredDates[i - 1]!, before: poweredDates[i]! });
  }
  out.push({ after: poweredDates[poweredDates.length - 1]!, before: null });
  return out;
}

/** Whether `instrument` was idle in `week` (the definition above). */
export function idleInWeek(instrument: TrendInstrument, week: TrendWeek): boolean {
  if (instrument.firstSeenDate === null || instrument.firstSeenDate >= week.windowStart) return false;
  return instrument.spells.some(
    (s) => (s.after === null || s.after < week.windowStart) && (s.before === null || s.before > week.end),
  );
}

export interface TrendGroupCount {
  group: string | null;
  idle: number;
  /** Instruments of the group that had reported by the week's end. */
  reporting: number;
}

export interface TrendRow extends TrendWeek {
  idle: number;
  reporting: number;
  groups: TrendGroupCount[];
}

/** Idle counts per week, in total and per group (groups sorted by name, null last). */
export function idleTrend(instruments: readonly TrendInstrument[], weeks: readonly TrendWeek[]): TrendRow[] {
  // Each instrument's group as an index, once; groups in their output order.
  const index = new Map<string | null, number>();
  const groupOf = new Int32Array(instruments.length);
  instruments.forEach((inst, k) => {
    let g = index.get(inst.group);
    if (g === undefined) {
      g = index.size;
      index.set(inst.group, g);
    }
    groupOf[k] = g;
  });
  const keys = [...index.keys()];
  const order = keys.map((_, g) => g).sort((a, b) => byGroupName(keys[a]!, keys[b]!));
  // Reporting counts: first-message dates in order, walked once over the weeks in order.
  const firsts = instruments
    .map((inst, k) => ({ date: inst.firstSeenDate, g: groupOf[k]! }))
    .filter((x): x is { date: string; g: number } => x.date !== null)
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const byEnd = weeks.map((_, w) => w).sort((a, b) => (weeks[a]!.end < weeks[b]!.end ? -1 : 1));
  const reportingAt: Int32Array[] = new Array(weeks.length);
  const running = new Int32Array(keys.length);
  let next = 0;
  for (const w of byEnd) {
    while (next < firsts.length && firsts[next]!.date <= weeks[w]!.end) running[firsts[next++]!.g]!++;
    reportingAt[w] = running.slice();
  }
  // Only instruments with an unpowered spell can be idle in some week.
  const candidates: number[] = [];
  instruments.forEach((inst, k) => {
    if (inst.firstSeenDate !== null && inst.spells.length > 0) candidates.push(k);
  });
  return weeks.map((week, w) => {
    const idle = new Int32Array(keys.length);
    for (const k of candidates) if (idleInWeek(instruments[k]!, week)) idle[groupOf[k]!]!++;
    const reporting = reportingAt[w]!;
    const groups = order.map((g) => ({ group: keys[g]!, idle: idle[g]!, reporting: reporting[g]! }));
    return {
      ...week,
      idle: groups.reduce((s, g) => s + g.idle, 0),
      reporting: groups.reduce((s, g) => s + g.reporting, 0),
      groups,
    };
  });
}

function byGroupName(a: string | null, b: string | null): number {
  return a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1;
}
