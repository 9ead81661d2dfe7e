import type { DatabaseSync } from 'node:sqlite';
import { Counter, Gauge, type Registry } from 'prom-client';
import { countByStatus } from './queue.ts';

/** The notifier's figures on the collector's `/metrics`. */
export function createNotifyMetrics(registry: Registry, db: DatabaseSync) {
  return {
    deliveries: new Counter({
      name: 'dayi_notify_deliveries_total',
      help: 'Notification attempts by channel and outcome (delivered, retry, dead)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    skipped: new Counter({
      name: 'dayi_notify_skipped_total',
      help: 'Notifications not queued: too_old (older than notify.maxAge), repeat (within repeatEvery), duplicate (already queued)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    queue: new Gauge({
      name: 'dayi_notify_queue',
      help: 'Notification deliveries in the durable queue by status: pending, and dead (dead letters)',
      labelNames: ['status'] as const,
      registers: [registry],
      collect() {
        if (!db.isOpen) return;
        const counts = countByStatus(db);
        this.set({ status: 'pending' }, counts.pending);
        this.set({ status: 'dead' }, counts.dead);
      },
    }),
  };
}
export type NotifyMetrics = ReturnType<typeof createNotifyMetrics>;
