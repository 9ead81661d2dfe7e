/**
 * The alert store's sink: called synchronously INSIDE the SQLite transaction that writes an alert
 * change. It only decides the routes and inserts the deliveries (no network, no waiting), so the
 * alert and its notifications commit or roll back together; the dispatcher sends them later.
 */
import type { AlertChange } from '../../alerts/types.ts';
import type { CollectorContext } from '../../context.ts';
import { stmt } from '../../derive/io/store.ts';
import type { NotifyConfig } from '../pure/config.ts';
import type { AlertEvent } from '../pure/events.ts';
import { routeChange } from '../pure/routing.ts';
import type { NotifyMetrics } from './metrics.ts';
import { enqueue, idempotencyKey, lastQueuedAt } from './queue.ts';

export type NotifySink = (change: AlertChange) => void;

export function createNotifySink(
  ctx: CollectorContext,
  notify: NotifyConfig,
  deps: { metrics: NotifyMetrics; queued: () => void },
): NotifySink {
  return (change) => {
    if (notify.routes.length === 0) return;
    const targets = routeChange(change, notify.routes);
    if (targets.length === 0) return;
    const now = ctx.now();
    if (now - change.at > notify.maxAge) {
      deps.metrics.skipped.inc({ reason: 'too_old' }, targets.length);
      return;
    }
    const { alert } = change;
    const reg = stmt(ctx.db, 'SELECT name, org FROM instruments WHERE id = ?').get(alert.instrumentId) as
      | { name: string | null; org: string | null }
      | undefined;
    const event: AlertEvent = {
      type: 'alert',
      alert,
      transition: change.transition,
      at: change.at,
      by: change.by,
      note: change.note,
      instrument: { id: alert.instrumentId, name: reg?.name ?? null, org: reg?.org ?? alert.org },
    };
    let queued = 0;
    for (const t of targets) {
      if (t.repeatEvery !== null) {
        const last = lastQueuedAt(ctx.db, alert.id, t.channel);
        if (last !== null && now - last < t.repeatEvery) {
          deps.metrics.skipped.inc({ reason: 'repeat' });
          continue;
        }
      }
      const added = enqueue(ctx.db, {
        key: idempotencyKey(['alert', alert.id, change.transition, change.at, alert.count, t.channel]),
        channel: t.channel,
        event,
        eventName: `alert.${change.transition}`,
        alertId: alert.id,
        instrumentId: alert.instrumentId,
        org: event.instrument.org,
        now,
      });
      if (added) queued++;
      else deps.metrics.skipped.inc({ reason: 'duplicate' });
    }
    // The dispatcher looks after the caller's transaction has committed (same tick, synchronous).
    if (queued > 0) setImmediate(deps.queued);
  };
}
