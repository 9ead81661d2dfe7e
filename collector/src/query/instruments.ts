import type { DatabaseSync } from 'node:sqlite';
import { type DerivedState, type InputLink, isInstrumentId } from '@dayi/protocols';
import { type AnomalyInput, parseAnomalyText } from '../alerts/anomaly-text.ts';
import type { Thresholds } from '../config.ts';
import type { CollectorContext } from '../context.ts';
import { loadLatestRun } from '../derive/io/state-run.ts';
import { stmt } from '../derive/io/store.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { currentState, isOnline } from '../derive/pure/current.ts';
import { QueryError } from './errors.ts';
import { parseThresholdsText, type RegistryRow, readRegistryRow } from './registry.ts';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** One instrument of GET /v1/instruments (SPEC). Times are ISO 8601 with offset, null when unknown. */
export interface InstrumentItem {
  id: string;
  name: string | null;
  org: string | null;
  category: string | null;
  state: DerivedState;
  stateSince: string | null;
  online: boolean;
  lastSeen: string | null;
  lastPoweredAt: string | null;
  lastRunningAt: string | null;
}

/** GET /v1/instruments/{id}: the item with its registry settings and its agent. */
export interface InstrumentDetail extends InstrumentItem {
  /** null for an instrument that reports but was never registered with settings. */
  quotaHours: number | null;
  /** The idle threshold that applies: its own, else the config's idleDays. */
  idleDays: number;
  thresholds: Thresholds | null;
  /** The instrument's own anomaly settings (overrides of the fleet's `alerts.anomaly`), null when none. */
  anomaly: AnomalyInput | null;
  agent: { id: string; version: string | null; inputs: InputLink[] } | null;
}

export interface InstrumentPage {
  items: InstrumentItem[];
  /** Cursor for the next page (the last id of this one), null on the last page. */
  next: string | null;
}

export interface StatusRow {
  instrument_id: string;
  first_seen: number | null;
  last_seen: number | null;
  last_received_at: number | null;
  last_powered_at: number | null;
  last_running_at: number | null;
  online: number | null;
  agent_id: string | null;
  agent_version: string | null;
  inputs: string | null;
}

export function readStatusRow(db: DatabaseSync, id: string): StatusRow | undefined {
  return stmt(db, 'SELECT * FROM instrument_status WHERE instrument_id = ?').get(id) as StatusRow | undefined;
}

/** All known instruments (registry and reporting ones), ordered by id, keyset-paginated. */
export function listInstruments(
  ctx: CollectorContext,
  opts: { limit?: number; cursor?: string; org?: string | undefined } = {},
): InstrumentPage {
  const limit = opts.limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new QueryError(
      'bad_request',
      `${limit} is not a whole number from 1 to ${MAX_PAGE_LIMIT}: give one in that range`,
      'limit',
    );
  }
  if (opts.cursor !== undefined && !isInstrumentId(opts.cursor)) {
    throw new QueryError(
      'bad_request',
      `${JSON.stringify(opts.cursor)} is not a cursor: pass the \`next\` of the previous page, or leave cursor out for the first page`,
      'cursor',
    );
  }
  const args: (string | number | null)[] = [opts.cursor ?? null, limit + 1];
  if (opts.org !== undefined) args.push(opts.org);
  const ids = stmt(
    ctx.db,
    opts.org === undefined
      ? `SELECT id FROM (SELECT id FROM instruments UNION SELECT instrument_id AS id FROM instrument_status)
       WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2`
      : // an org is a registry fact: instruments that only report have none
        'SELECT id FROM instruments WHERE org = ?3 AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2',
  ).all(...args) as { id: string }[];
  const page = ids.slice(0, limit);
  return {
    items: page.map((r) => item(ctx, r.id, readRegistryRow(ctx.db, r.id), readStatusRow(ctx.db, r.id))),
    next: ids.length > limit ? page[page.length - 1]!.id : null,
  };
}

/** One instrument with its settings and agent, or null when the collector does not know the id. */
export function getInstrument(ctx: CollectorContext, id: string): InstrumentDetail | null {
  const registry = readRegistryRow(ctx.db, id);
  const status = readStatusRow(ctx.db, id);
  if (!registry && !status) return null;
  return {
    ...item(ctx, id, registry, status),
    quotaHours: registry?.quota_hours ?? null,
    idleDays: registry?.idle_days ?? ctx.config.idleDays,
    thresholds: parseThresholdsText(registry?.thresholds ?? null),
    anomaly: parseAnomalyText(registry?.anomaly ?? null),
    agent: status?.agent_id
      ? { id: status.agent_id, version: status.agent_version, inputs: parseInputs(status.inputs) }
      : null,
  };
}

function item(
  ctx: CollectorContext,
  id: string,
  registry: RegistryRow | undefined,
  status: StatusRow | undefined,
): InstrumentItem {
  const { timezone, offlineAfter } = ctx.config;
  const now = ctx.now();
  const iso = (ts: number | null | undefined) =>
    ts === null || ts === undefined ? null : isoWithOffset(ts, timezone);
  const current = currentState(loadLatestRun(ctx, id), offlineAfter, now);
  return {
    id,
    name: registry?.name ?? null,
    org: registry?.org ?? null,
    category: registry?.category ?? null,
    state: current.state,
    stateSince: iso(current.since),
    online: status
      ? isOnline(
          {
            online: status.online,
            lastReceivedAt: status.last_received_at,
            lastSeen: status.last_seen,
            inputs: parseInputs(status.inputs),
          },
          offlineAfter,
          now,
        )
      : false,
    lastSeen: iso(status?.last_seen),
    lastPoweredAt: iso(status?.last_powered_at),
    lastRunningAt: iso(status?.last_running_at),
  };
}

function parseInputs(text: string | null): InputLink[] {
  if (text === null) return [];
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? (value as InputLink[]) : [];
  } catch {
    return [];
  }
}
