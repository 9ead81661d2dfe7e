/**
 * The weekly idle digest per org: at the scheduled local time (default Monday 09:00), the idle
 * list of each org that has idle instruments is queued for the routes that accept kind `idle`.
 * A digest missed while the collector was down is sent when it starts again within 24 h of its
 * time; an older one is skipped. `notify_digest_runs` keeps a restart from sending one twice.
 */
import type { CollectorContext } from '../../context.ts';
import { inTransaction, stmt } from '../../derive/io/store.ts';
import { getIdle } from '../../query/idle.ts';
import type { NotifyConfig } from '../pure/config.ts';
import type { DigestEvent, DigestItem } from '../pure/events.ts';
import { routeDigest } from '../pure/routing.ts';
import { latestSlot } from '../pure/schedule.ts';
import { enqueue, idempotencyKey } from './queue.ts';

/** A digest is sent late only this long after its time. */
export const DIGEST_CATCH_UP_MS = 24 * 3_600_000;

export interface DigestRun {
  slot: number;
  /** Orgs with idle instruments. */
  orgs: number;
  deliveries: number;
}

/** Queues the digest of the latest scheduled time if it is due and not queued yet. */
export function queueDigestIfDue(ctx: CollectorContext, notify: NotifyConfig): DigestRun | null {
  if (!notify.digest.enabled || notify.routes.length === 0) return null;
  const now = ctx.now();
  const slot = latestSlot(now, notify.digest, ctx.config.timezone);
  if (now - slot > DIGEST_CATCH_UP_MS) return null;
  const { db } = ctx;
  if (stmt(db, 'SELECT 1 FROM notify_digest_runs WHERE slot = ?').get(slot) !== undefined) return null;
  return inTransaction(db, () => {
    const idle = getIdle(ctx);
    const names = new Map(
      (stmt(db, 'SELECT id, name FROM instruments').all() as { id: string; name: string | null }[]).map(
        (r) => [r.id, r.name],
      ),
    );
    const byOrg = new Map<string | null, { items: DigestItem[]; never: number }>();
    const group = (org: string | null) => {
      let g = byOrg.get(org);
      if (!g) {
        g = { items: [], never: 0 };
        byOrg.set(org, g);
      }
      return g;
    };
    for (const i of idle.items) {
      group(i.org).items.push({
        id: i.id,
        name: names.get(i.id) ?? null,
        idleDays: i.idleDays,
        lastPoweredAt: i.lastPoweredAt === null ? null : Date.parse(i.lastPoweredAt),
      });
    }
    for (const n of idle.neverReported) if (byOrg.has(n.org)) group(n.org).never++;
    let deliveries = 0;
    let orgs = 0;
    for (const [org, g] of byOrg) {
      if (g.items.length === 0) continue;
      orgs++;
      const event: DigestEvent = {
        type: 'digest',
        org,
        slot,
        items: g.items,
        neverReported: g.never,
        idleDays: ctx.config.idleDays,
      };
      for (const channel of routeDigest(org, notify.routes)) {
        const added = enqueue(db, {
          key: idempotencyKey(['digest', slot, org ?? '', channel]),
          channel,
          event,
          eventName: 'digest.idle',
          alertId: null,
          instrumentId: null,
          org,
          now,
        });
        if (added) deliveries++;
      }
    }
    stmt(db, 'INSERT INTO notify_digest_runs (slot, queued_at, deliveries) VALUES (?, ?, ?)').run(
      slot,
      now,
      deliveries,
    );
    return { slot, orgs, deliveries };
  });
}
