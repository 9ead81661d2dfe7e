/**
 * Batch import of the registry (批量导入), POST /v1/instruments/import and `dayi instruments import`:
 * rows from pure/rows.ts merged over what the registry holds, each checked on its own. Valid rows
 * are upserted by id in one transaction, invalid ones are named by row and field; `dryRun` checks
 * everything and writes nothing. Re-importing the same file changes nothing (all `unchanged`).
 */
import { safeParseExplained } from '@dayi/protocols';
import { parseAnomalyText } from '../../alerts/anomaly-text.ts';
import { type InstrumentInput, instrumentSchema } from '../../config.ts';
import type { CollectorContext } from '../../context.ts';
import { inTransaction } from '../../derive/io/store.ts';
import {
  instrumentExists,
  parseThresholdsText,
  readRegistryRow,
  thresholdsText,
  upsertInstrument,
} from '../../query/registry.ts';
import type { ImportRow } from '../pure/rows.ts';

export const MAX_IMPORT_ROWS = 50_000;

export interface ImportError {
  row: number;
  id: string | null;
  field: string;
  message: string;
}

export interface ImportResult {
  dryRun: boolean;
  /** Rows read (after the header). */
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  errors: ImportError[];
}

/** The stored entry as an import row's base (what a field the row leaves out keeps). */
function storedEntry(ctx: CollectorContext, id: string): Record<string, unknown> | null {
  const r = readRegistryRow(ctx.db, id);
  if (!r) return null;
  const out: Record<string, unknown> = { id, quotaHours: r.quota_hours };
  if (r.name !== null) out.name = r.name;
  if (r.org !== null) out.org = r.org;
  if (r.category !== null) out.category = r.category;
  if (r.idle_days !== null) out.idleDays = r.idle_days;
  const t = parseThresholdsText(r.thresholds);
  if (t) out.thresholds = { ...t };
  const a = parseAnomalyText(r.anomaly);
  if (a) out.anomaly = a;
  return out;
}

function merge(base: Record<string, unknown>, set: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(set)) {
    if (k.startsWith('thresholds.')) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  const subs = Object.entries(set).filter(([k]) => k.startsWith('thresholds.'));
  if (subs.length > 0) {
    const t: Record<string, unknown> =
      out.thresholds && typeof out.thresholds === 'object' ? { ...(out.thresholds as object) } : {};
    for (const [k, v] of subs) {
      const sub = k.slice('thresholds.'.length);
      if (v === null) delete t[sub];
      else t[sub] = v;
    }
    const numbers = ['standby', 'idle', 'running'].filter((k) => k in t);
    if (numbers.length === 0) delete out.thresholds;
    else out.thresholds = t;
  }
  // quotaHours cleared: back to the default, as PUT without it
  if (out.quotaHours === undefined) delete out.quotaHours;
  return out;
}

function sameAsStored(ctx: CollectorContext, entry: InstrumentInput): boolean {
  const r = readRegistryRow(ctx.db, entry.id);
  if (!r) return false;
  return (
    r.name === (entry.name ?? null) &&
    r.org === (entry.org ?? null) &&
    r.category === (entry.category ?? null) &&
    r.quota_hours === entry.quotaHours &&
    r.idle_days === (entry.idleDays ?? null) &&
    r.thresholds === thresholdsText(entry.thresholds) &&
    r.anomaly === (entry.anomaly ? JSON.stringify(entry.anomaly) : null)
  );
}

export function importInstruments(
  ctx: CollectorContext,
  rows: readonly ImportRow[],
  opts: { dryRun: boolean; org: string | null; changed?: (id: string) => void },
): ImportResult {
  const result: ImportResult = {
    dryRun: opts.dryRun,
    rows: rows.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    errors: [],
  };
  const firstRow = new Map<string, number>();
  const valid: { entry: InstrumentInput; created: boolean }[] = [];
  for (const row of rows) {
    const fail = (field: string, message: string) =>
      result.errors.push({ row: row.row, id: row.id, field, message });
    if (row.errors.length > 0) {
      for (const e of row.errors) fail(e.field, e.message);
      result.rejected++;
      continue;
    }
    const id = row.id!;
    const earlier = firstRow.get(id);
    if (earlier !== undefined) {
      fail('id', `${JSON.stringify(id)} is also on row ${earlier}: give each instrument one row`);
      result.rejected++;
      continue;
    }
    firstRow.set(id, row.row);
    const base = storedEntry(ctx, id);
    if (opts.org !== null) {
      const theirs = base ? (base.org ?? null) : instrumentExists(ctx.db, id) ? null : opts.org;
      if (theirs !== opts.org) {
        fail(
          'id',
          `${JSON.stringify(id)} is not an instrument of org ${JSON.stringify(opts.org)}, which this API key is scoped to`,
        );
        result.rejected++;
        continue;
      }
    }
    const merged = merge(base ?? { id }, row.set);
    if (opts.org !== null && merged.org === undefined) merged.org = opts.org;
    if (opts.org !== null && merged.org !== opts.org) {
      fail(
        'org',
        `this API key is scoped to org ${JSON.stringify(opts.org)} and may not put an instrument into ${JSON.stringify(merged.org)}`,
      );
      result.rejected++;
      continue;
    }
    const parsed = safeParseExplained(instrumentSchema, merged, { noun: 'field' });
    if (!parsed.success) {
      for (const i of parsed.issues) fail(i.path.join('.') || '(row)', i.message);
      result.rejected++;
      continue;
    }
    if (sameAsStored(ctx, parsed.data)) {
      result.unchanged++;
      continue;
    }
    valid.push({ entry: parsed.data, created: base === null });
  }
  for (const v of valid) {
    if (v.created) result.created++;
    else result.updated++;
  }
  if (!opts.dryRun && valid.length > 0) {
    inTransaction(ctx.db, () => {
      for (const v of valid) upsertInstrument(ctx, v.entry);
    });
    for (const v of valid) opts.changed?.(v.entry.id);
  }
  result.errors.sort((a, b) => a.row - b.row);
  return result;
}
