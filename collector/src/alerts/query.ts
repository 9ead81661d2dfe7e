import type { DatabaseSync } from 'node:sqlite';
import { stmt } from '../derive/io/store.ts';
import { type AlertRecord, recordOf } from './store.ts';
import type { AlertKind, AlertStatus } from './types.ts';

export interface AlertFilter {
  status?: readonly AlertStatus[];
  kind?: readonly AlertKind[];
  type?: readonly string[];
  org?: string;
  instrument?: string;
  /** Alerts active at some point in [from, to): opened before `to`, not closed before `from`. */
  from?: number;
  to?: number;
  limit: number;
  /** `next` of the previous page. */
  cursor?: string;
}

export interface AlertPage {
  items: AlertRecord[];
  next: string | null;
}

export class AlertCursorError extends Error {}

/** Newest first (opened_at, then id, descending), keyset-paginated. */
export function listAlerts(db: DatabaseSync, f: AlertFilter): AlertPage {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const inList = (column: string, values: readonly string[] | undefined) => {
    if (!values || values.length === 0) return;
    where.push(`${column} IN (${values.map(() => '?').join(', ')})`);
    args.push(...values);
  };
  inList('status', f.status);
  inList('kind', f.kind);
  inList('type', f.type);
  if (f.org !== undefined) {
    where.push('org = ?');
    args.push(f.org);
  }
  if (f.instrument !== undefined) {
    where.push('instrument_id = ?');
    args.push(f.instrument);
  }
  if (f.to !== undefined) {
    where.push('opened_at < ?');
    args.push(f.to);
  }
  if (f.from !== undefined) {
    where.push('(closed_at IS NULL OR closed_at >= ?)');
    args.push(f.from);
  }
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    where.push('(opened_at < ? OR (opened_at = ? AND id < ?))');
    args.push(c.openedAt, c.openedAt, c.id);
  }
  const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY opened_at DESC, id DESC LIMIT ?`;
  const rows = stmt(db, sql).all(...args, f.limit + 1) as unknown as Parameters<typeof recordOf>[0][];
  const page = rows.slice(0, f.limit).map(recordOf);
  const last = page[page.length - 1];
  return { items: page, next: rows.length > f.limit && last ? encodeCursor(last.openedAt, last.id) : null };
}

function encodeCursor(openedAt: number, id: string): string {
  return Buffer.from(`${openedAt}~${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { openedAt: number; id: string } {
  const m = /^(-?\d+)~(al-[0-9a-f]{20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new AlertCursorError('cursor: not a `next` value of this list');
  return { openedAt: Number(m[1]), id: m[2]! };
}
