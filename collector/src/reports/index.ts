/**
 * Uptime reports for auditors: facts from the store, the report as data, one of three formats,
 * signed with the collector's Ed25519 key, and recorded as issued.
 */
import { randomUUID } from 'node:crypto';
import type { CollectorContext } from '../context.ts';
import { reportLayout } from './core/layout.ts';
import { reportPeriod } from './core/period.ts';
import { type SignatureDocument, signatureDocument, signBytes } from './core/signature.ts';
import { buildUptimeReport, type Lang, type UptimeReport } from './core/uptime.ts';
import { loadUptimeFactsYielding, orgExists } from './data.ts';
import { recordIssued } from './issued.ts';
import { activeSigningKey } from './keys.ts';
import { loadColumnGroups, type ReportColumnProvider, UPTIME_COLUMN_PROVIDERS } from './providers.ts';
import { renderReport } from './render.ts';

export const REPORT_FORMATS = ['csv', 'xlsx', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<ReportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
};

export interface UptimeReportRequest {
  from: string;
  to: string;
  format: ReportFormat;
  org?: string | null;
  lang: Lang;
  /** Idle threshold in days; default the configuration's idleDays. */
  idleDays?: number;
  /** The API key name that asked (recorded with the issued report). */
  issuedTo?: string | null;
}

export interface SignedReport {
  bytes: Buffer;
  contentType: string;
  fileName: string;
  signature: SignatureDocument;
  report: UptimeReport;
}

export class ReportError extends Error {
  readonly code: 'org_not_found';
  constructor(code: 'org_not_found', message: string) {
    super(message);
    this.name = 'ReportError';
    this.code = code;
  }
}

export interface MakeOptions {
  providers?: readonly ReportColumnProvider[];
  onProgress?: (done: number, total: number) => void;
  /** Where XLSX and PDF are written: by default a worker thread for large fleets (render.ts). */
  thread?: 'auto' | 'main' | 'worker';
}

export async function makeUptimeReport(
  ctx: CollectorContext,
  req: UptimeReportRequest,
  opts: MakeOptions = {},
): Promise<SignedReport> {
  const org = req.org ?? null;
  if (org !== null && !orgExists(ctx, org)) {
    throw new ReportError(
      'org_not_found',
      `query.org: no instrument of the registry belongs to ${JSON.stringify(org)}`,
    );
  }
  const key = activeSigningKey(ctx);
  const period = reportPeriod(req.from, req.to, {
    timezone: ctx.config.timezone,
    offlineAfterMs: ctx.config.offlineAfter,
    now: ctx.now(),
  });
  // Read in slices with the event loop free between them (MQTT acknowledgements wait otherwise).
  const facts = await loadUptimeFactsYielding(ctx, period, org, opts.onProgress);
  const groups = loadColumnGroups(
    ctx,
    period,
    facts.map((f) => f.id),
    opts.providers ?? UPTIME_COLUMN_PROVIDERS,
  );
  const reportId = randomUUID();
  const report = buildUptimeReport({
    meta: {
      reportId,
      from: req.from,
      to: req.to,
      timezone: ctx.config.timezone,
      org,
      idleThresholdDays: req.idleDays ?? ctx.config.idleDays,
      keyId: key.id,
      lang: req.lang,
    },
    period,
    facts,
    groups,
  });
  const layout = reportLayout(report);
  const bytes = await renderReport(
    req.format,
    layout,
    {
      reportId,
      keyId: key.id,
      generatedAt: new Date(period.now),
      subject: `${req.from} – ${req.to}${org ? ` · ${org}` : ''}`,
    },
    opts.thread ? { thread: opts.thread } : {},
  );
  const fileName = reportFileName(req, org);
  const signature = signatureDocument(bytes, signBytes(bytes, key.privateKey), key.id, {
    reportId,
    fileName,
  });
  const contentType = CONTENT_TYPES[req.format];
  recordIssued(ctx.db, {
    signature,
    contentType,
    params: { kind: 'uptime', from: req.from, to: req.to, format: req.format, org, lang: req.lang },
    issuedAt: period.now,
    issuedTo: req.issuedTo ?? null,
  });
  return { bytes, contentType, fileName, signature, report };
}

/** `dayi-uptime_2026-01-01_2026-12-31[_org].csv`; the org keeps its own letters (RFC 6266 filename*). */
export function reportFileName(
  req: Pick<UptimeReportRequest, 'from' | 'to' | 'format'>,
  org: string | null,
): string {
  const orgPart = org ? `_${org.replace(/[\\/:*?"<>|\s]+/g, '-')}` : '';
  return `dayi-uptime_${req.from}_${req.to}${orgPart}.${req.format}`;
}
