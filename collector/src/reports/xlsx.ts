/**
 * The report as an Excel workbook (write-excel-file): a report sheet (information and summary),
 * the instruments, the totals by org. Text is always written as text cells, never as formulas,
 * so a hostile instrument name stays a name; numbers are numeric cells with their decimals.
 */
import writeExcelFile, { type Sheet, type Cell as XlsxCell } from 'write-excel-file/node';
import type { Cell, ReportLayout, Table } from './core/layout.ts';

const bold = { fontWeight: 'bold' } as const;

function cell(c: Cell): XlsxCell {
  if (c === null) return null;
  if (c.kind === 'text') return { value: c.value, type: String };
  return { value: c.value, type: Number, format: c.decimals === 2 ? '0.00' : '0' };
}

function tableSheet(name: string, tbl: Table): Sheet<never> {
  const header: XlsxCell[] = tbl.columns.map((col) => ({
    value: col.header,
    type: String,
    ...bold,
    align: col.align,
    wrap: true,
  }));
  const rows = tbl.rows.map((row, i) =>
    row.map((c) => {
      const out = cell(c);
      return i === tbl.totalRow && out && typeof out === 'object' ? { ...out, ...bold } : out;
    }),
  );
  return {
    sheet: name,
    data: [header, ...rows],
    columns: tbl.columns.map((col) => ({ width: col.width })),
    stickyRowsCount: 1,
  };
}

/** Sheet names: at most 31 characters, none of []:*?/\ (Excel's rules). */
function sheetName(title: string): string {
  return title.replace(/[[\]:*?/\\]/g, ' ').slice(0, 31);
}

export async function renderXlsx(layout: ReportLayout): Promise<Buffer> {
  const info: XlsxCell[][] = [
    [{ value: layout.title, type: String, ...bold, fontSize: 14 }],
    [],
    ...layout.info.map(([k, v]): XlsxCell[] => [
      { value: k, type: String, ...bold },
      { value: v, type: String },
    ]),
    [],
    ...layout.summary.map(([k, v]): XlsxCell[] => [{ value: k, type: String, ...bold }, cell(v)]),
  ];
  const sheets: Sheet<never>[] = [
    { sheet: sheetName(layoutSummaryName(layout)), data: info, columns: [{ width: 34 }, { width: 60 }] },
    tableSheet(sheetName(layout.instruments.title), layout.instruments),
    tableSheet(sheetName(layout.orgs.title), layout.orgs),
  ];
  return writeExcelFile(sheets).toBuffer();
}

function layoutSummaryName(layout: ReportLayout): string {
  return layout.lang === 'zh-CN' ? '报告信息' : 'Report';
}
