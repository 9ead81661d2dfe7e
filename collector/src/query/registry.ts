/**
 * The instrument registry (table `instruments`): pushed by the platform (PUT /v1/instruments/{id}),
 * seeded from the config's `instruments:` at start. Ingest also adds a bare row (id only) for an
 * instrument that reports before it was registered.
 *
 * Seed versus API: the seed only adds what is missing. An id already in the registry keeps its
 * entry (API edits win over the config), except a bare row that ingest created, which the seed
 * fills in. A thresholds change re-derives that instrument from the ledger.
 */
import type { DatabaseSync } from 'node:sqlite';
import { safeParseExplained } from '@dayi/protocols';
import {
  type InstrumentInput,
  instrumentSchema,
  storedThresholdsSchema,
  type Thresholds,
} from '../config.ts';
import type { CollectorContext } from '../context.ts';
import { rederive } from '../derive/io/rederive.ts';
import { inTransaction, stmt } from '../derive/io/store.ts';
import { QueryError } from './errors.ts';

export interface RegistryRow {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  quota_hours: number;
  idle_days: number | null;
  thresholds: string | null;
  /** JSON of the instrument's `anomaly` settings (alerts/config.ts), null when it has none. */
  anomaly: string | null;
  created_at: number;
  updated_at: number;
}

/** Known to the collector: in the registry, or at least reported once. */
export function instrumentExists(db: DatabaseSync, id: string): boolean {
  return (
    stmt(
      db,
      'SELECT 1 FROM instruments WHERE id = ?1 UNION ALL SELECT 1 FROM instrument_status WHERE instrument_id = ?1 LIMIT 1',
    ).get(id) !== undefined
  );
}

export function readRegistryRow(db: DatabaseSync, id: string): RegistryRow | undefined {
  return stmt(db, 'SELECT * FROM instruments WHERE id = ?').get(id) as RegistryRow | undefined;
}

/** Thresholds as stored: a JSON object with a fixed key order, so equal thresholds compare equal. */
export function thresholdsText(t: Thresholds | undefined): string | null {
  return t
    ? JSON.stringify({ signal: t.signal, standby: t.standby, idle: t.idle, running: t.running })
    : null;
}

export function parseThresholdsText(text: string | null): Thresholds | null {
  if (text === null) return null;
  try {
    const parsed = storedThresholdsSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface UpsertResult {
  /** True when the id was not in the registry before. */
  created: boolean;
  /** True when the thresholds changed and the instrument was re-derived from the ledger. */
  rederived: boolean;
}

/**
 * PUT semantics: the entry becomes exactly `input` (omitted optional fields are cleared). When
 * the thresholds change, observations, status and daily usage of that instrument are re-derived.
 */
export function upsertInstrument(ctx: CollectorContext, input: InstrumentInput): UpsertResult {
  const parsed = safeParseExplained(instrumentSchema, input, { noun: 'field' });
  if (!parsed.success)
    throw new QueryError(
      'bad_request',
      parsed.issues.map((i) => `${['body', ...i.path].join('.')}: ${i.message}`).join('; '),
      'body',
    );
  const entry = parsed.data;
  const now = ctx.now();
  return inTransaction(ctx.db, () => {
    const before = readRegistryRow(ctx.db, entry.id);
    const thresholds = thresholdsText(entry.thresholds);
    stmt(
      ctx.db,
      `INSERT INTO instruments (id, name, org, category, quota_hours, idle_days, thresholds, anomaly, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, org = excluded.org, category = excluded.category,
           quota_hours = excluded.quota_hours, idle_days = excluded.idle_days, thresholds = excluded.thresholds,
           anomaly = excluded.anomaly, updated_at = excluded.updated_at`,
    ).run(
      entry.id,
      entry.name ?? null,
      entry.org ?? null,
      entry.category ?? null,
      entry.quotaHours,
      entry.idleDays ?? null,
      thresholds,
      entry.anomaly ? JSON.stringify(entry.anomaly) : null,
      now,
      now,
    );
    const changed = (before?.thresholds ?? null) !== thresholds;
    const rederived = changed && hasMessages(ctx.db, entry.id);
    if (rederived) rederive(ctx, entry.id);
    return { created: before === undefined, rederived };
  });
}

/**
 * Adds the config's instruments that the registry does not hold yet (and fills bare rows made by
 * ingest). Returns the ids written. Entries already edited through the API are left alone.
 */
export function seedRegistry(ctx: CollectorContext, instruments: readonly InstrumentInput[]): string[] {
  const written: string[] = [];
  inTransaction(ctx.db, () => {
    for (const input of instruments) {
      const before = readRegistryRow(ctx.db, input.id);
      if (before && !isBare(before)) continue;
      upsertInstrument(ctx, input);
      written.push(input.id);
    }
  });
  return written;
}

/** A row ingest created for an unregistered id: nothing but the id and defaults. */
function isBare(row: RegistryRow): boolean {
  return (
    row.name === null &&
    row.org === null &&
    row.category === null &&
    row.idle_days === null &&
    row.thresholds === null &&
    row.anomaly === null &&
    row.quota_hours === 1400 &&
    row.created_at === row.updated_at
  );
}

function hasMessages(db: DatabaseSync, id: string): boolean {
  return stmt(db, 'SELECT 1 FROM messages WHERE instrument_id = ? LIMIT 1').get(id) !== undefined;
}
