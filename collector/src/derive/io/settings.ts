/**
 * The derived tables depend on two config values besides the registry: `timezone` (which calendar
 * day an instant belongs to) and `offlineAfter` (how long evidence stays fresh). They are recorded
 * with the data; when the collector starts with other values, everything derived is rebuilt from
 * the ledger so old and new days never mix two definitions.
 */
import type { CollectorContext } from '../../context.ts';
import { type RederiveResult, rederive } from './rederive.ts';
import { inTransaction, stmt } from './store.ts';

export interface DeriveSettingsCheck {
  /** What the store was derived with before (null: a new store). */
  previous: { timezone: string; offlineAfter: number } | null;
  /** Set when the settings changed and the store was re-derived. */
  rederived: RederiveResult | null;
}

/** Call once at start, before ingest runs. Records the settings; re-derives when they changed. */
export function ensureDeriveSettings(ctx: CollectorContext): DeriveSettingsCheck {
  const { db, config } = ctx;
  return inTransaction(db, () => {
    const rows = stmt(db, 'SELECT key, value FROM derive_settings').all() as { key: string; value: string }[];
    const stored = new Map(rows.map((r) => [r.key, r.value]));
    const timezone = stored.get('timezone');
    const offlineAfter = stored.get('offlineAfter');
    const previous =
      timezone !== undefined && offlineAfter !== undefined
        ? { timezone, offlineAfter: Number(offlineAfter) }
        : null;
    const changed =
      previous !== null &&
      (previous.timezone !== config.timezone || previous.offlineAfter !== config.offlineAfter);
    const hasData = stmt(db, 'SELECT 1 FROM messages LIMIT 1').get() !== undefined;
    let rederived: RederiveResult | null = null;
    if (changed || (previous === null && hasData)) {
      ctx.log.warn(
        { previous, timezone: config.timezone, offlineAfter: config.offlineAfter },
        'timezone or offlineAfter changed since the store was derived: re-deriving everything from the ledger',
      );
      rederived = rederive(ctx);
    }
    const put = stmt(db, 'INSERT OR REPLACE INTO derive_settings (key, value) VALUES (?, ?)');
    put.run('timezone', config.timezone);
    put.run('offlineAfter', String(config.offlineAfter));
    return { previous, rederived };
  });
}
