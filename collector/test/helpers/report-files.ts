import { execFileSync } from 'node:child_process';
import ExcelJS from 'exceljs';

/** Reads the three report formats back the way an auditor's tools would, into comparable rows. */

export interface ReadRow {
  id: string;
  cells: string[];
}

export const PDFTOTEXT = '/usr/bin/pdftotext';

/** RFC 4180 CSV (quoted fields, doubled quotes, CRLF) into records; the BOM must be first. */
export function parseCsv(bytes: Buffer): string[][] {
  const text = bytes.toString('utf8');
  if (text.charCodeAt(0) !== 0xfeff) throw new Error('the CSV does not start with a UTF-8 BOM');
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || record.length > 0) throw new Error('the CSV does not end with CRLF');
  return records;
}

/** The rows of the CSV section whose title line is `title` (header row first). */
export function csvSection(records: string[][], title: string): string[][] {
  const start = records.findIndex((r) => r.length === 1 && r[0] === title);
  if (start < 0) throw new Error(`no CSV section ${title}`);
  const out: string[][] = [];
  for (let i = start + 1; i < records.length; i++) {
    const r = records[i]!;
    if (r.length === 1 && r[0] === '') break;
    out.push(r);
  }
  return out;
}

/** Every sheet as rows of cell values (numbers stay numbers), read with exceljs. */
export async function readXlsx(bytes: Buffer): Promise<Map<string, unknown[][]>> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  const sheets = new Map<string, unknown[][]>();
  wb.eachSheet((ws) => {
    const rows: unknown[][] = [];
    ws.eachRow({ includeEmpty: true }, (row) => {
      const values = (row.values as unknown[]).slice(1);
      rows.push(
        values.map((v) => (v && typeof v === 'object' && 'formula' in v ? { formula: v.formula } : v)),
      );
    });
    sheets.set(ws.name, rows);
  });
  return sheets;
}

/** pdftotext -layout: the text an auditor's tools extract from the PDF. */
export function pdfText(file: string): string {
  return execFileSync(PDFTOTEXT, ['-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8' });
}
