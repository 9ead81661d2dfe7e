/**
 * Rows of a registry import, before they meet the registry: from CSV records (headers in English
 * or Chinese, columns.ts) or from a JSON array of instrument objects. Each row says which fields it
 * sets (a value) or clears (null); fields it does not mention keep what the registry holds.
 */

import { fieldOfHeader, HEADER_WORDS, IMPORT_FIELDS, type ImportField } from './columns.ts';
import { CsvError, parseCsv } from './csv.ts';

export interface RowIssue {
  field: string;
  message: string;
}

export interface ImportRow {
  /** CSV: the line of the file (the header is row 1, as a spreadsheet numbers it); JSON: position from 1. */
  row: number;
  id: string | null;
  /**
   * Fields the row sets (`null`: clears). CSV threshold columns as `thresholds.standby`, …
   * (merged into the stored thresholds); JSON `thresholds` as a whole object.
   */
  set: Record<string, unknown>;
  errors: RowIssue[];
}

/** A file that cannot be read as a whole (no header, unknown column, stray quote). */
export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

const NUMERIC: ReadonlySet<ImportField> = new Set([
  'quotaHours',
  'idleDays',
  'thresholds.standby',
  'thresholds.idle',
  'thresholds.running',
]);

/** Numbers as spreadsheets write them: `1,400` and full-width digits are accepted. */
function parseNumber(text: string): number | null {
  const t = text.normalize('NFKC').replace(/,/g, '').trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  return Number(t);
}

export function rowsFromCsv(text: string): ImportRow[] {
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) throw new ImportFileError(`line ${err.line}: ${err.message}`);
    throw err;
  }
  const header = records[0];
  if (!header)
    throw new ImportFileError('the file is empty: the first line names the columns (id, name, org, …)');
  const columns: (ImportField | null)[] = [];
  const seen = new Map<ImportField, number>();
  header.fields.forEach((h, i) => {
    const field = fieldOfHeader(h);
    if (field === null && h.trim() !== '') {
      throw new ImportFileError(
        `header: column ${i + 1} ${JSON.stringify(h)} is not an instrument field: use ${IMPORT_FIELDS.map((f) => `${f} (${HEADER_WORDS[f].find((w) => w.charCodeAt(0) > 127) ?? f})`).join(', ')}`,
      );
    }
    if (field !== null && seen.has(field)) {
      throw new ImportFileError(
        `header: columns ${seen.get(field)! + 1} and ${i + 1} both name ${field}: keep one`,
      );
    }
    if (field !== null) seen.set(field, i);
    columns.push(field);
  });
  if (!seen.has('id')) {
    throw new ImportFileError(
      `header: no id column: name one id, 仪器编码 or 仪器编号 (found ${header.fields.map((h) => JSON.stringify(h)).join(', ')})`,
    );
  }
  return records.slice(1).map((rec) => {
    const out: ImportRow = { row: rec.line, id: null, set: {}, errors: [] };
    rec.fields.forEach((raw, i) => {
      const field = columns[i];
      const value = raw.trim();
      if (field === undefined) {
        if (value !== '')
          out.errors.push({ field: '(row)', message: `column ${i + 1} has a value but no header` });
        return;
      }
      if (field === null) return;
      if (value === '') {
        if (field === 'id')
          out.errors.push({ field: 'id', message: 'is empty: every row needs an instrument id' });
        else out.set[field] = null;
        return;
      }
      if (field === 'id') out.id = value;
      if (NUMERIC.has(field)) {
        const n = parseNumber(value);
        if (n === null) out.errors.push({ field, message: `${JSON.stringify(value)} is not a number` });
        else out.set[field] = n;
      } else if (field === 'anomaly') {
        try {
          out.set[field] = JSON.parse(value);
        } catch {
          out.errors.push({ field, message: 'is not JSON: give the anomaly settings as a JSON object' });
        }
      } else out.set[field] = value;
    });
    return out;
  });
}

const JSON_KEYS = [
  'id',
  'name',
  'org',
  'category',
  'quotaHours',
  'idleDays',
  'thresholds',
  'anomaly',
] as const;

/** A JSON array of instrument objects (as in `instruments:` of the config). */
export function rowsFromJson(value: unknown): ImportRow[] {
  if (!Array.isArray(value)) {
    throw new ImportFileError(
      'body: must be a JSON array of instruments (or CSV with Content-Type: text/csv)',
    );
  }
  return value.map((item, index): ImportRow => {
    const out: ImportRow = { row: index + 1, id: null, set: {}, errors: [] };
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      out.errors.push({ field: '(row)', message: 'must be an object with at least an id' });
      return out;
    }
    const obj = item as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) {
      if (!(JSON_KEYS as readonly string[]).includes(k)) {
        out.errors.push({ field: k, message: `unknown field: use ${JSON_KEYS.join(', ')}` });
        continue;
      }
      out.set[k] = v;
    }
    if (typeof obj.id === 'string' && obj.id !== '') out.id = obj.id;
    else out.errors.push({ field: 'id', message: 'is missing: every row needs an instrument id' });
    return out;
  });
}
