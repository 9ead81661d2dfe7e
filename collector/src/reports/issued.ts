/**
 * The record of every report the collector signed (table `reports_issued`): its SHA-256, the
 * signature and what was asked, never the content. Serves the detached `.sig` of a report by its
 * digest, and tells an auditor whether this collector issued a given file at all.
 */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from '../derive/io/store.ts';
import { SIGNATURE_ALGORITHM, SIGNATURE_FORMAT, type SignatureDocument } from './core/signature.ts';

export interface IssuedReport {
  signature: SignatureDocument;
  contentType: string;
  params: Record<string, unknown>;
  issuedAt: number;
  /** The API key name that asked for it. */
  issuedTo: string | null;
}

export function recordIssued(db: DatabaseSync, report: IssuedReport): void {
  const s = report.signature;
  stmt(
    db,
    `INSERT OR IGNORE INTO reports_issued (sha256, report_id, key_id, signature, bytes, file_name, content_type,
       params, issued_at, issued_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    s.sha256,
    s.reportId,
    s.keyId,
    s.signature,
    s.bytes,
    s.fileName,
    report.contentType,
    JSON.stringify(report.params),
    report.issuedAt,
    report.issuedTo,
  );
}

export function findIssued(db: DatabaseSync, sha256: string): IssuedReport | null {
  const row = stmt(db, 'SELECT * FROM reports_issued WHERE sha256 = ?').get(sha256.toLowerCase()) as
    | {
        sha256: string;
        report_id: string;
        key_id: string;
        signature: string;
        bytes: number;
        file_name: string;
        content_type: string;
        params: string;
        issued_at: number;
        issued_to: string | null;
      }
    | undefined;
  if (!row) return null;
  return {
    signature: {
      format: SIGNATURE_FORMAT,
      algorithm: SIGNATURE_ALGORITHM,
      keyId: row.key_id,
      signature: row.signature,
      sha256: row.sha256,
      bytes: row.bytes,
      reportId: row.report_id,
      fileName: row.file_name,
    },
    contentType: row.content_type,
    params: JSON.parse(row.params) as Record<string, unknown>,
    issuedAt: row.issued_at,
    issuedTo: row.issued_to,
  };
}
