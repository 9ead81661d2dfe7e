/**
 * The report writers' thread (see render.ts): lays a report's tables out as XLSX or PDF off the
 * main thread, so a 16,000-instrument report does not hold up MQTT acknowledgements and HTTP
 * answers for the seconds it takes. Takes `{ format, layout, pdf }` as workerData, posts back
 * `{ bytes }` (transferred) or `{ error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ReportLayout } from './core/layout.ts';
import { type PdfMeta, renderPdf } from './pdf.ts';
import { renderXlsx } from './xlsx.ts';

export interface RenderWorkerData {
  format: 'xlsx' | 'pdf';
  layout: ReportLayout;
  pdf: PdfMeta;
}

const port = parentPort;
if (!port) throw new Error('render-worker.ts runs as a worker thread');
const data = workerData as RenderWorkerData;
try {
  const bytes =
    data.format === 'xlsx' ? await renderXlsx(data.layout) : await renderPdf(data.layout, data.pdf);
  const out = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  port.postMessage({ bytes: out }, [out.buffer as ArrayBuffer]);
} catch (err) {
  port.postMessage({ error: (err as Error).stack ?? String(err) });
}
