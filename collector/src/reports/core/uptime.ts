/**
 * The uptime report as data: one row per instrument, totals per org and for the whole report.
 * Pure: it takes the facts the store gave (exact ms) and rounds only at the end, the way `/usage`
 * does, so every hour figure equals what `GET /v1/instruments/{id}/usage` answers for the period.
 */
import { coverageOf, HOUR_MS, toHours } from '../../derive/pure/usage.ts';
import type { ReportPeriod } from './period.ts';

export const LANGS = ['zh-CN', 'en'] as const;
export type Lang = (typeof LANGS)[number];
export type Text = Record<Lang, string>;

const DAY_MS = 86_400_000;

/** What the store knows of one instrument for the period, exact (ms), before any rounding. */
export interface InstrumentFacts {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  /** Yearly quota hours from the registry; null for an instrument that reports but is not registered. */
  quotaHours: number | null;
  poweredMs: number;
  runningMs: number;
  coveredMs: number;
  spanMs: number;
  /** First message ever (event time); null when none arrived. */
  firstSeen: number | null;
  /** Latest powered observation before the period's end (event time); null when none. */
  lastPoweredBeforeEnd: number | null;
}

/**
 * A column that exists only where its analytics exist (alert count, booked hours, …), given by a
 * provider (reports/providers.ts). `hours` values are exact ms and are rounded like the usage hours;
 * `count` values are whole numbers. A null value is an empty cell, never a zero.
 */
export interface OptionalColumn {
  key: string;
  label: Text;
  kind: 'hours' | 'count';
}

export interface OptionalColumnGroup {
  /** The provider's name, e.g. `alerts`, `bookings`. */
  id: string;
  columns: OptionalColumn[];
  /** Per instrument id, per column key: ms for `hours`, a count for `count`; missing = null. */
  values: ReadonlyMap<string, Readonly<Record<string, number | null>>>;
}

/** Why an instrument has no idle days: it had sent nothing by the end of the period. */
export type DataStatus = 'reported' | 'never_reported' | 'not_yet_reported';

export interface UptimeRow {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  poweredHours: number;
  runningHours: number;
  /** Quota hours prorated to the elapsed part of the period; null without quota. */
  quotaHours: number | null;
  /** runningHours / quotaHours in %, from exact figures, 0.01; null without quota (or quota 0). */
  utilisationPct: number | null;
  /** `/usage`'s coverage in %; null, as there, for a period that has not begun. */
  coveragePct: number | null;
  /** Whole days without power at the end of the period; null when no data had arrived by then. */
  idleDays: number | null;
  idle: boolean;
  status: DataStatus;
  /** Optional columns, by key: hours rounded to 0.01, counts as they are, null when unknown. */
  extra: Record<string, number | null>;
}

export interface UptimeTotals {
  /** The org; null for instruments without one, and for the report's total. */
  org: string | null;
  instruments: number;
  poweredHours: number;
  runningHours: number;
  quotaHours: number | null;
  utilisationPct: number | null;
  coveragePct: number | null;
  /** Instruments idle (not powered for idleThresholdDays or more) at the end of the period. */
  idle: number;
  /** Instruments with no data by the end of the period (never reported, or not yet). */
  noData: number;
  extra: Record<string, number | null>;
}

export interface UptimeReportMeta {
  reportId: string;
  from: string;
  to: string;
  timezone: string;
  /** When the report was made (ms); figures of a period not over yet run to this instant. */
  generatedAt: number;
  /** Instant the figures run to: end of `to`, or generatedAt. */
  endsAt: number;
  /** The org the report is limited to, null for every org. */
  org: string | null;
  idleThresholdDays: number;
  /** The report signing key (its fingerprint), so the content names the key that signs it. */
  keyId: string;
  lang: Lang;
}

export interface UptimeReport {
  meta: UptimeReportMeta;
  optionalColumns: OptionalColumn[];
  rows: UptimeRow[];
  /** One per org, in the rows' order (instruments without org last). */
  orgs: UptimeTotals[];
  total: UptimeTotals;
}

export interface UptimeReportInput {
  meta: Omit<UptimeReportMeta, 'endsAt' | 'generatedAt'>;
  period: ReportPeriod;
  facts: readonly InstrumentFacts[];
  groups: readonly OptionalColumnGroup[];
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Orgs in order, instruments without an org last; ids in order within an org. */
export function compareFacts(a: InstrumentFacts, b: InstrumentFacts): number {
  if (a.org !== b.org) {
    if (a.org === null) return 1;
    if (b.org === null) return -1;
    return a.org < b.org ? -1 : 1;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function buildUptimeReport(input: UptimeReportInput): UptimeReport {
  const { period, meta, groups } = input;
  const columns = groups.flatMap((g) => g.columns);
  const keys = new Set<string>();
  for (const c of columns) {
    if (keys.has(c.key)) throw new Error(`report column ${c.key} is given by two providers`);
    keys.add(c.key);
  }
  const threshold = meta.idleThresholdDays * DAY_MS;
  const facts = [...input.facts].sort(compareFacts);

  const rows: UptimeRow[] = [];
  const orgs: UptimeTotals[] = [];
  const all = new Accumulator(null, columns);
  let current: Accumulator | null = null;
  for (const f of facts) {
    const extraExact = extraOf(f.id, groups);
    const since = f.lastPoweredBeforeEnd ?? f.firstSeen;
    const reported = f.firstSeen !== null && f.firstSeen < period.endsAt;
    const idleDays =
      reported && since !== null ? Math.max(0, Math.floor((period.endsAt - since) / DAY_MS)) : null;
    const idle = reported && since !== null && period.endsAt - since >= threshold;
    const quotaMs = f.quotaHours === null ? null : f.quotaHours * period.yearShare * HOUR_MS;
    rows.push({
      id: f.id,
      name: f.name,
      org: f.org,
      category: f.category,
      poweredHours: toHours(f.poweredMs),
      runningHours: toHours(f.runningMs),
      quotaHours: quotaMs === null ? null : round2(quotaMs / HOUR_MS),
      utilisationPct: utilisation(f.runningMs, quotaMs),
      coveragePct: f.spanMs > 0 ? pct(coverageOf(f.coveredMs, f.spanMs)) : null,
      idleDays,
      idle,
      status: f.firstSeen === null ? 'never_reported' : reported ? 'reported' : 'not_yet_reported',
      extra: roundExtra(extraExact, columns),
    });
    if (!current || current.org !== f.org) {
      if (current) orgs.push(current.totals());
      current = new Accumulator(f.org, columns);
    }
    for (const acc of [current, all]) acc.add(f, quotaMs, idle, !reported, extraExact);
  }
  if (current) orgs.push(current.totals());
  return {
    meta: { ...meta, generatedAt: period.now, endsAt: period.endsAt },
    optionalColumns: columns,
    rows,
    orgs,
    total: all.totals(),
  };
}

function pct(fraction: number): number {
  return Math.round(fraction * 10_000) / 100;
}

function utilisation(runningMs: number, quotaMs: number | null): number | null {
  if (quotaMs === null || quotaMs <= 0) return null;
  return round2((runningMs / quotaMs) * 100);
}

function extraOf(id: string, groups: readonly OptionalColumnGroup[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const g of groups) {
    const values = g.values.get(id);
    for (const c of g.columns) {
      const v = values?.[c.key];
      out[c.key] = typeof v === 'number' && Number.isFinite(v) ? v : null;
    }
  }
  return out;
}

function roundExtra(
  exact: Record<string, number | null>,
  columns: readonly OptionalColumn[],
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const c of columns) {
    const v = exact[c.key] ?? null;
    out[c.key] = v === null ? null : c.kind === 'hours' ? toHours(v) : v;
  }
  return out;
}

/** Sums exact figures of a group of instruments; rounds once, in `totals()`. */
class Accumulator {
  readonly org: string | null;
  private readonly columns: readonly OptionalColumn[];
  private instruments = 0;
  private poweredMs = 0;
  private runningMs = 0;
  private coveredMs = 0;
  private spanMs = 0;
  private quotaMs: number | null = null;
  /** Running hours of the instruments that have quota: utilisation compares like with like. */
  private runningWithQuotaMs = 0;
  private idle = 0;
  private noData = 0;
  private readonly extra: Record<string, number | null> = {};

  constructor(org: string | null, columns: readonly OptionalColumn[]) {
    this.org = org;
    this.columns = columns;
    for (const c of columns) this.extra[c.key] = null;
  }

  add(
    f: InstrumentFacts,
    quotaMs: number | null,
    idle: boolean,
    noData: boolean,
    extra: Record<string, number | null>,
  ): void {
    this.instruments++;
    this.poweredMs += f.poweredMs;
    this.runningMs += f.runningMs;
    this.coveredMs += f.coveredMs;
    this.spanMs += f.spanMs;
    if (quotaMs !== null) {
      this.quotaMs = (this.quotaMs ?? 0) + quotaMs;
      this.runningWithQuotaMs += f.runningMs;
    }
    if (idle) this.idle++;
    if (noData) this.noData++;
    for (const c of this.columns) {
      const v = extra[c.key];
      if (v !== null && v !== undefined) this.extra[c.key] = (this.extra[c.key] ?? 0) + v;
    }
  }

  totals(): UptimeTotals {
    return {
      org: this.org,
      instruments: this.instruments,
      poweredHours: toHours(this.poweredMs),
      runningHours: toHours(this.runningMs),
      quotaHours: this.quotaMs === null ? null : round2(this.quotaMs / HOUR_MS),
      utilisationPct: utilisation(this.runningWithQuotaMs, this.quotaMs),
      coveragePct: this.spanMs > 0 ? pct(coverageOf(this.coveredMs, this.spanMs)) : null,
      idle: this.idle,
      noData: this.noData,
      extra: roundExtra(this.extra, this.columns),
    };
  }
}
