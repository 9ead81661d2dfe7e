/**
 * The report as PDF (pdfkit), A4 landscape: title, report information and summary, totals by org,
 * then the instruments, with the header row on every page and "page p of n" at the foot.
 *
 * Chinese text is set in Noto Sans SC (TrueType outlines), as shipped by the npm package
 * @expo-google-fonts/noto-sans-sc (font licence: SIL Open Font License 1.1). pdfkit embeds only a
 * subset of it, the glyphs the report uses, with a ToUnicode map so the text can be searched and
 * extracted (`pdftotext`). Text of printable ASCII only (codes, numbers) is set in the standard
 * Helvetica instead: it needs no shaping, which is most of the time a 16,000-row PDF takes
 * (docs/performance.md).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import { label } from './core/labels.ts';
import { type Cell, cellText, type ReportLayout, type Table } from './core/layout.ts';

const require = createRequire(import.meta.url);
export const FONT_PACKAGE = '@expo-google-fonts/noto-sans-sc';
const FONT_FILES = {
  regular: `${FONT_PACKAGE}/400Regular/NotoSansSC_400Regular.ttf`,
  bold: `${FONT_PACKAGE}/700Bold/NotoSansSC_700Bold.ttf`,
} as const;

let fonts: { regular: Buffer; bold: Buffer } | null = null;
/** The two font files, read once per process (about 10 MB each). */
function loadFonts(): { regular: Buffer; bold: Buffer } {
  fonts ??= {
    regular: readFileSync(require.resolve(FONT_FILES.regular)),
    bold: readFileSync(require.resolve(FONT_FILES.bold)),
  };
  return fonts;
}

const PAGE = { width: 841.89, height: 595.28 }; // A4 landscape
const MARGIN = 28;
const FOOTER = 18;
const FONT_SIZE = 7.5;
const ROW = 11;
const HEADER_ROW = 22;
const CELL_PAD = 3;
const ASCII = /^[\x20-\x7e]*$/;
/** y is the baseline: Helvetica and Noto Sans SC have different ascenders, so rows line up by it. */
const BASELINE = { lineBreak: false, baseline: 'alphabetic' } as const;

export interface PdfMeta {
  reportId: string;
  keyId: string;
  generatedAt: Date;
  subject: string;
}

type Doc = InstanceType<typeof PDFDocument>;

export async function renderPdf(layout: ReportLayout, meta: PdfMeta): Promise<Buffer> {
  const { regular, bold } = loadFonts();
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margin: MARGIN,
    bufferPages: true,
    autoFirstPage: true,
    info: {
      Title: layout.title,
      Subject: meta.subject,
      Author: 'dayi collector',
      Creator: 'dayi collector',
      Producer: 'dayi collector (pdfkit)',
      // The signature is detached (it covers these exact bytes); the report names its key and id.
      Keywords: `dayi-report-id:${meta.reportId} dayi-signing-key:${meta.keyId}`,
      CreationDate: meta.generatedAt,
      ModDate: meta.generatedAt,
    },
    lang: layout.lang,
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });
  doc.registerFont('regular', regular);
  doc.registerFont('bold', bold);
  const w = new Writer(doc);

  // Title, report information and summary.
  doc.font('bold').fontSize(15).text(layout.title, MARGIN, MARGIN, { lineBreak: false });
  let y = MARGIN + 26;
  doc.fontSize(8.5);
  for (const [k, v] of layout.info) {
    doc.font('bold').text(k, MARGIN, y, { lineBreak: false });
    doc.font('regular');
    y = w.wrapped(v, MARGIN + 130, y, PAGE.width - 2 * MARGIN - 130, 12);
  }
  y += 6;
  for (const [k, v] of layout.summary) {
    doc.font('bold').text(k, MARGIN, y, { lineBreak: false });
    doc.font('regular').text(cellText(v), MARGIN + 200, y, { lineBreak: false });
    y += 12;
  }
  y = w.table(layout.orgs, y + 12, 'bold');
  doc.addPage();
  w.table(layout.instruments, MARGIN, null);

  // Page numbers, once the number of pages is known.
  const range = doc.bufferedPageRange();
  doc.font('regular').fontSize(7);
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const text = `${label('page', layout.lang, { p: i + 1, n: range.count })}    ${meta.reportId}`;
    doc.text(text, MARGIN, PAGE.height - MARGIN - FOOTER + 8, { lineBreak: false });
  }
  doc.end();
  await ended;
  return Buffer.concat(chunks);
}

/** Table layout with a fixed row height: no line wrapping in the body (it is the slow part). */
class Writer {
  private readonly doc: Doc;
  private weight: 'regular' | 'bold' = 'regular';
  constructor(doc: Doc) {
    this.doc = doc;
  }

  /** The weight for the next cells; each cell then takes Helvetica or Noto Sans SC by its text. */
  setWeight(weight: 'regular' | 'bold'): void {
    this.weight = weight;
  }

  private fontFor(text: string): void {
    const ascii = ASCII.test(text);
    this.doc.font(ascii ? (this.weight === 'bold' ? 'Helvetica-Bold' : 'Helvetica') : this.weight);
  }

  /** Text wrapped into `width`; returns the y below it. */
  wrapped(text: string, x: number, y: number, width: number, lineHeight: number): number {
    const h = this.doc.heightOfString(text, { width });
    this.doc.text(text, x, y, { width });
    return y + Math.max(lineHeight, h + 2);
  }

  /** Draws `tbl` from y, continuing on new pages; returns the y below it. */
  table(tbl: Table, y0: number, totalFont: 'bold' | null): number {
    const { doc } = this;
    const usable = PAGE.width - 2 * MARGIN;
    const weight = tbl.columns.reduce((s, c) => s + c.width, 0);
    const widths = tbl.columns.map((c) => (c.width / weight) * usable);
    const xs: number[] = [];
    let x = MARGIN;
    for (const wd of widths) {
      xs.push(x);
      x += wd;
    }
    const bottom = PAGE.height - MARGIN - FOOTER;
    let y = y0;
    if (y + 14 + HEADER_ROW + ROW > bottom) {
      doc.addPage();
      y = MARGIN;
    }
    doc.font('bold').fontSize(10).text(tbl.title, MARGIN, y, { lineBreak: false });
    y += 14;
    const header = () => {
      doc.rect(MARGIN, y, usable, HEADER_ROW).fill('#e8ecf0');
      doc.fillColor('black').font('bold').fontSize(FONT_SIZE);
      tbl.columns.forEach((c, i) => {
        const wd = widths[i]! - 2 * CELL_PAD;
        // Two lines at most, cut to the column.
        const lines = this.fitLines(c.header, wd, 2);
        lines.forEach((line, j) => {
          const lx =
            c.align === 'right'
              ? xs[i]! + widths[i]! - CELL_PAD - doc.widthOfString(line)
              : xs[i]! + CELL_PAD;
          doc.text(line, lx, y + 9 + j * 9.5, BASELINE);
        });
      });
      y += HEADER_ROW;
      doc.font('regular').fontSize(FONT_SIZE);
    };
    header();
    tbl.rows.forEach((row, r) => {
      if (y + ROW > bottom) {
        doc.addPage();
        y = MARGIN;
        header();
      }
      const isTotal = r === tbl.totalRow;
      if (isTotal && totalFont) {
        doc
          .moveTo(MARGIN, y)
          .lineTo(MARGIN + usable, y)
          .lineWidth(0.5)
          .stroke();
        doc.font(totalFont);
      }
      for (let i = 0; i < row.length; i++) this.cell(row[i]!, xs[i]!, widths[i]!, y, tbl.columns[i]!.align);
      if (isTotal) this.setWeight('regular');
      y += ROW;
    });
    return y;
  }

  private cell(cell: Cell, x: number, width: number, y: number, align: 'left' | 'right'): void {
    if (cell === null) return;
    const { doc } = this;
    const inner = width - 2 * CELL_PAD;
    const value = cellText(cell);
    this.fontFor(value);
    const text = this.fitLines(value, inner, 1)[0] ?? '';
    const tx = align === 'right' ? x + width - CELL_PAD - doc.widthOfString(text) : x + CELL_PAD;
    doc.text(text, tx, y + 8.5, BASELINE);
  }

  /** `text` in at most `max` lines of `width`, the last one cut with an ellipsis if needed. */
  private fitLines(text: string, width: number, max: number): string[] {
    const { doc } = this;
    if (doc.widthOfString(text) <= width) return [text];
    const lines: string[] = [];
    let rest = [...text];
    while (rest.length > 0 && lines.length < max) {
      const last = lines.length === max - 1;
      let n = rest.length;
      const fits = (k: number) =>
        doc.widthOfString(rest.slice(0, k).join('') + (last && k < rest.length ? '…' : '')) <= width;
      // Longest prefix that fits (binary search), at least one character.
      let lo = 1;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (fits(mid)) lo = mid;
        else hi = mid - 1;
      }
      n = lo;
      // A line that is not the last one breaks at its last space, if it has one.
      if (!last && n < rest.length) {
        const space = rest.lastIndexOf(' ', n);
        if (space > 0) n = space + 1;
      }
      lines.push(rest.slice(0, n).join('').trimEnd() + (last && n < rest.length ? '…' : ''));
      rest = rest.slice(n);
    }
    return lines;
  }
}
