/**
 * Notifications: routing rules from the config, a durable queue in SQLite, channels (webhook,
 * e-mail, WeCom, DingTalk, Feishu). `pure/` decides and formats (no I/O, no clock); `io/` stores
 * and sends. Wire `notifier.sink` into the alert store as its `onChange`.
 */
import type { CollectorContext } from '../context.ts';
import { type DigestRun, queueDigestIfDue } from './io/digest.ts';
import { Dispatcher, type DispatcherOptions } from './io/dispatcher.ts';
import { createNotifyMetrics, type NotifyMetrics } from './io/metrics.ts';
import { createNotifySink, type NotifySink } from './io/sink.ts';

export type { NotifySink } from './io/sink.ts';

export interface Notifier {
  /** Synchronous; call it inside the transaction that writes the alert change. */
  sink: NotifySink;
  dispatcher: Dispatcher;
  metrics: NotifyMetrics;
  /** Queues the weekly digest when its time has come (the collector checks every minute). */
  queueDigest(): DigestRun | null;
  /** Starts the background delivery loop and the digest check. */
  start(): void;
  /** Stops both; deliveries in flight get a short grace, the rest stay queued for the next start. */
  close(): Promise<void>;
}

export interface NotifierOptions extends DispatcherOptions {
  /** How often the digest schedule is checked, ms (default 60 s). */
  digestCheckEveryMs?: number;
}

export function createNotifier(ctx: CollectorContext, opts: NotifierOptions = {}): Notifier {
  const notify = ctx.config.notify;
  const metrics = createNotifyMetrics(ctx.metrics.registry, ctx.db);
  const dispatcher = new Dispatcher(ctx, notify, metrics, opts);
  const sink = createNotifySink(ctx, notify, { metrics, queued: () => dispatcher.wake() });
  let digestTimer: NodeJS.Timeout | null = null;
  const queueDigest = () => {
    const run = queueDigestIfDue(ctx, notify);
    if (run && run.deliveries > 0) dispatcher.wake();
    if (run)
      ctx.log.info(
        { slot: run.slot, orgs: run.orgs, deliveries: run.deliveries },
        'notify: idle digest queued',
      );
    return run;
  };
  return {
    sink,
    dispatcher,
    metrics,
    queueDigest,
    start() {
      dispatcher.start();
      const check = () => {
        try {
          queueDigest();
        } catch (err) {
          ctx.log.error({ err }, 'notify: queuing the idle digest failed');
        }
      };
      check();
      digestTimer = setInterval(check, opts.digestCheckEveryMs ?? 60_000);
      digestTimer.unref();
    },
    async close() {
      if (digestTimer) clearInterval(digestTimer);
      await dispatcher.close();
    },
  };
}
