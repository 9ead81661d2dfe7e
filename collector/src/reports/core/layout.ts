/**
 * The uptime report as tables of typed cells, in one language: what every format (CSV, XLSX, PDF)
 * lays out, so the three carry the same words and the same numbers.
 */
import { isoWithOffset } from '../../derive/pure/calendar.ts';
import { label, orgText, statusText } from './labels.ts';
import type { Lang, UptimeReport, UptimeRow, UptimeTotals } from './uptime.ts';

export type Cell =
  | { kind: 'text'; value: string }
  /** decimals: how the number is shown (2 for hours and %, 0 for counts and days). */
  | { kind: 'number'; value: number; decimals: 0 | 2 }
  | null;

export interface Column {
  header: string;
  /** Suggested width in characters (XLSX) and relative width (PDF). */
  width: number;
  align: 'left' | 'right';
}

export interface Table {
  title: string;
  columns: Column[];
  rows: Cell[][];
  /** Index in `rows` of the total row, if any (shown in bold). */
  totalRow: number | null;
}

export interface ReportLayout {
  lang: Lang;
  title: string;
  /** Label and value pairs: period, time zone, generated at, scope, report id, signing key, … */
  info: [string, string][];
  /** The figures that matter most, as label and value (instruments, idle, totals). */
  summary: [string, Cell][];
  instruments: Table;
  orgs: Table;
}

const text = (value: string | null): Cell =>
  value === null || value === '' ? null : { kind: 'text', value };
const num = (value: number | null, decimals: 0 | 2 = 2): Cell =>
  value === null ? null : { kind: 'number', value, decimals };
const left = (header: string, width: number): Column => ({ header, width, align: 'left' });
const right = (header: string, width: number): Column => ({ header, width, align: 'right' });

export function reportLayout(report: UptimeReport): ReportLayout {
  const { meta } = report;
  const lang = meta.lang;
  const tz = meta.timezone;
  const n = meta.idleThresholdDays;
  const extraColumns = report.optionalColumns.map((c) => right(c.label[lang], 12));
  const extraCells = (extra: Record<string, number | null>) =>
    report.optionalColumns.map((c) => num(extra[c.key] ?? null, c.kind === 'hours' ? 2 : 0));

  const instrumentRow = (r: UptimeRow): Cell[] => [
    text(r.id),
    text(r.name),
    text(r.org),
    text(r.category),
    num(r.poweredHours),
    num(r.runningHours),
    num(r.quotaHours),
    num(r.utilisationPct),
    num(r.coveragePct),
    r.idleDays === null ? text(statusText(r.status, lang)) : num(r.idleDays, 0),
    ...extraCells(r.extra),
  ];
  const totalsRow = (t: UptimeTotals, name: string): Cell[] => [
    text(name),
    num(t.instruments, 0),
    num(t.poweredHours),
    num(t.runningHours),
    num(t.quotaHours),
    num(t.utilisationPct),
    num(t.coveragePct),
    num(t.idle, 0),
    num(t.noData, 0),
    ...extraCells(t.extra),
  ];

  return {
    lang,
    title: label('title', lang),
    info: [
      [label('period', lang), `${meta.from} – ${meta.to}`],
      [label('timezone', lang), tz],
      [label('generatedAt', lang), isoWithOffset(meta.generatedAt, tz)],
      [label('figuresUntil', lang), isoWithOffset(meta.endsAt, tz)],
      [label('scope', lang), meta.org ?? label('allOrgs', lang)],
      [label('idleRule', lang), label('idleRuleValue', lang, { n })],
      [label('reportId', lang), meta.reportId],
      [label('signingKey', lang), meta.keyId],
      [label('hoursNote', lang), label('hoursNoteValue', lang)],
      [label('verifyNote', lang), label('verifyNoteValue', lang)],
    ],
    summary: [
      [label('instrumentCount', lang), num(report.total.instruments, 0)],
      [label('idleCount', lang, { n }), num(report.total.idle, 0)],
      [label('noDataCount', lang), num(report.total.noData, 0)],
      [label('poweredHours', lang), num(report.total.poweredHours)],
      [label('runningHours', lang), num(report.total.runningHours)],
      [label('quotaHours', lang), num(report.total.quotaHours)],
      [label('utilisation', lang), num(report.total.utilisationPct)],
      [label('coverage', lang), num(report.total.coveragePct)],
    ],
    instruments: {
      title: label('instruments', lang),
      columns: [
        left(label('id', lang), 16),
        left(label('name', lang), 28),
        left(label('org', lang), 28),
        left(label('category', lang), 10),
        right(label('poweredHours', lang), 12),
        right(label('runningHours', lang), 12),
        right(label('quotaHours', lang), 12),
        right(label('utilisation', lang), 10),
        right(label('coverage', lang), 10),
        right(label('idleDays', lang), 10),
        ...extraColumns,
      ],
      rows: report.rows.map(instrumentRow),
      totalRow: null,
    },
    orgs: {
      title: label('byOrg', lang),
      columns: [
        left(label('org', lang), 28),
        right(label('instrumentCount', lang), 8),
        right(label('poweredHours', lang), 12),
        right(label('runningHours', lang), 12),
        right(label('quotaHours', lang), 12),
        right(label('utilisation', lang), 10),
        right(label('coverage', lang), 10),
        right(label('idleCount', lang, { n }), 12),
        right(label('noDataCount', lang), 10),
        ...extraColumns,
      ],
      rows: [
        ...report.orgs.map((t) => totalsRow(t, orgText(t.org, lang))),
        totalsRow(report.total, label('total', lang)),
      ],
      totalRow: report.orgs.length,
    },
  };
}

/** A cell as text: numbers with their fixed decimals (the same digits in every format). */
export function cellText(cell: Cell): string {
  if (cell === null) return '';
  if (cell.kind === 'text') return cell.value;
  return cell.value.toFixed(cell.decimals);
}
