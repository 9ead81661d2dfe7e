/**
 * The report's bytes in one of the formats. CSV is made in place (string joins, fast); XLSX and PDF
 * of a large fleet take seconds of CPU in the writers (write-excel-file, pdfkit), so from
 * `WORKER_ROWS` instruments on they are made on a thread of their own (render-worker.ts): the main
 * thread keeps acknowledging MQTT messages and answering HTTP meanwhile. Same code, same bytes.
 */
import { Worker } from 'node:worker_threads';
import { renderCsv } from './core/csv.ts';
import type { ReportLayout } from './core/layout.ts';
import type { PdfMeta } from './pdf.ts';
import { renderPdf } from './pdf.ts';
import type { RenderWorkerData } from './render-worker.ts';
import { renderXlsx } from './xlsx.ts';

/** From this many instrument rows on, XLSX and PDF are written on a worker thread. */
export const WORKER_ROWS = 2000;

export async function renderReport(
  format: 'csv' | 'xlsx' | 'pdf',
  layout: ReportLayout,
  pdf: PdfMeta,
  opts: { thread?: 'auto' | 'main' | 'worker' } = {},
): Promise<Buffer> {
  if (format === 'csv') return renderCsv(layout);
  const thread = opts.thread ?? 'auto';
  if (thread === 'main' || (thread === 'auto' && layout.instruments.rows.length < WORKER_ROWS)) {
    return format === 'xlsx' ? renderXlsx(layout) : renderPdf(layout, pdf);
  }
  const data: RenderWorkerData = { format, layout, pdf };
  return new Promise<Buffer>((resolve, reject) => {
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url), { workerData: data });
    let settled = false;
    worker.once('message', (msg: { bytes?: Uint8Array; error?: string }) => {
      settled = true;
      if (msg.bytes) resolve(Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength));
      else reject(new Error(`report writer thread: ${msg.error}`));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`report writer thread exited with code ${code} before it answered`));
    });
  });
}
