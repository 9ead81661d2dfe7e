/**
 * CSV as spreadsheets write it (RFC 4180): fields separated by a comma (or a tab, or a semicolon,
 * whichever the header line uses outside quotes), quoted with `"` where they hold separators,
 * quotes (doubled) or line breaks; lines end in CRLF, LF or CR. Each record keeps the line it
 * starts on, so an error can name the row a user sees in the spreadsheet.
 */
export interface CsvRecord {
  /** 1-based line of the file where the record starts (the header is line 1). */
  line: number;
  fields: string[];
}

export class CsvError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.name = 'CsvError';
    this.line = line;
  }
}

/** The separator the first line uses outside quotes: tab, semicolon, else comma. */
export function sniffDelimiter(text: string): ',' | '\t' | ';' {
  let inQuotes = false;
  const counts = { ',': 0, '\t': 0, ';': 0 };
  for (const ch of text) {
    if (ch === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (ch === '\n' || ch === '\r')) break;
    else if (!inQuotes && (ch === ',' || ch === '\t' || ch === ';')) counts[ch]++;
  }
  if (counts[','] > 0) return ',';
  if (counts['\t'] > 0) return '\t';
  if (counts[';'] > 0) return ';';
  return ',';
}

/** Parses the whole text; lines with nothing on them are skipped. Throws CsvError on a stray quote. */
export function parseCsv(text: string, delimiter: string = sniffDelimiter(text)): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let quoted = false;
  let touched = false;
  const endField = () => {
    fields.push(field);
    field = '';
    quoted = false;
  };
  const endRecord = () => {
    endField();
    if (touched || fields.length > 1 || fields[0] !== '') records.push({ line: recordLine, fields });
    fields = [];
    touched = false;
  };
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '"' && field === '' && !quoted) {
      // a quoted field: up to the closing quote, "" is one quote
      const start = line;
      quoted = true;
      touched = true;
      i++;
      for (;;) {
        if (i >= n) throw new CsvError(start, `a quoted field opened on line ${start} is never closed`);
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === '\r' && text[i + 1] === '\n') {
          field += '\r\n';
          i += 2;
          line++;
          continue;
        }
        if (c === '\r' || c === '\n') line++;
        field += c;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== delimiter && next !== '\r' && next !== '\n') {
        throw new CsvError(
          line,
          `text after the closing quote of a field on line ${line}: quote the whole field`,
        );
      }
      continue;
    }
    if (ch === '"' && !quoted) {
      throw new CsvError(
        line,
        `a quote inside an unquoted field on line ${line}: quote the field and double the quote`,
      );
    }
    if (ch === delimiter) {
      endField();
      touched = true;
      i++;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += ch;
    touched = true;
    i++;
  }
  if (field !== '' || fields.length > 0 || touched) endRecord();
  return records;
}

/** Writes records as RFC 4180 CSV (quotes where needed), the inverse of parseCsv for tests and exports. */
export function formatCsv(rows: readonly (readonly string[])[], delimiter = ','): string {
  return rows
    .map((r) =>
      r.map((f) => (/[",\r\n\t;]/.test(f) || f === '' ? `"${f.replace(/"/g, '""')}"` : f)).join(delimiter),
    )
    .join('\r\n');
}
