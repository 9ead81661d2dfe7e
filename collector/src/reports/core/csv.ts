/**
 * CSV for spreadsheets: UTF-8 with a byte order mark (Excel then reads Chinese correctly), CRLF
 * line ends and RFC 4180 quoting. Text cells that a spreadsheet would run as a formula are
 * neutralised (OWASP "CSV injection"): a leading = + - @ tab or CR gets a single quote in front.
 */
import { type Cell, cellText, type ReportLayout, type Table } from './layout.ts';

export const CSV_BOM = '\uFEFF';

const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell made inert: a cell starting like a formula is prefixed with `'`. */
export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** One CSV field: quoted when it holds a comma, quote, CR or LF (quotes doubled). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Numbers are written as numbers; only text is neutralised (a number is never a formula). */
export function csvCell(cell: Cell): string {
  if (cell === null) return '';
  if (cell.kind === 'number') return cellText(cell);
  return csvField(neutraliseFormula(cell.value));
}

export function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

const t = (value: string): Cell => ({ kind: 'text', value });

function table(out: string[], tbl: Table): void {
  out.push(csvLine([t(tbl.title)]));
  out.push(csvLine(tbl.columns.map((c) => t(c.header))));
  for (const row of tbl.rows) out.push(csvLine(row));
}

/**
 * Sections separated by an empty line: the title and report information (label, value), the
 * instruments (a title line, then a header row and one row per instrument), the totals by org
 * (title, header, one row per org and the total).
 */
export function renderCsv(layout: ReportLayout): Buffer {
  const out: string[] = [CSV_BOM];
  out.push(csvLine([t(layout.title)]));
  for (const [k, v] of layout.info) out.push(csvLine([t(k), t(v)]));
  for (const [k, v] of layout.summary) out.push(csvLine([t(k), v]));
  out.push('\r\n');
  table(out, layout.instruments);
  out.push('\r\n');
  table(out, layout.orgs);
  return Buffer.from(out.join(''), 'utf8');
}
