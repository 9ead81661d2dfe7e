/**
 * Delivers the queue in the background, off the ingest path: due rows are sent a few at a time
 * (`notify.concurrency`), each outcome written back at once. A delivery cut short by a crash is
 * still `pending` and is sent again after the restart, with the same idempotency key.
 */
import type { CollectorContext } from '../../context.ts';
import type { ChannelConfig, NotifyConfig } from '../pure/config.ts';
import type { NotifyEvent } from '../pure/events.ts';
import { type DeliveryMeta, emailMessage, httpRequest } from '../pure/requests.ts';
import { backoffMs, type Outcome } from '../pure/retry.ts';
import type { NotifyMetrics } from './metrics.ts';
import { type DeliveryRow, dueDeliveries, markDead, markDelivered, markRetry, nextDueAt } from './queue.ts';
import { Mailers, sendHttp } from './transports.ts';

export interface DispatcherOptions {
  /** 0..1, for the jitter of the backoff; tests fix it. */
  random?: () => number;
  /** Called after each attempt (tests and the digest use it). */
  onAttempt?: (row: DeliveryRow, outcome: Outcome) => void;
}

export class Dispatcher {
  private readonly channels: Map<string, ChannelConfig>;
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly mailers = new Mailers();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private closed = false;

  private readonly ctx: CollectorContext;
  private readonly notify: NotifyConfig;
  private readonly metrics: NotifyMetrics;
  private readonly opts: DispatcherOptions;

  constructor(
    ctx: CollectorContext,
    notify: NotifyConfig,
    metrics: NotifyMetrics,
    opts: DispatcherOptions = {},
  ) {
    this.ctx = ctx;
    this.notify = notify;
    this.metrics = metrics;
    this.opts = opts;
    this.channels = new Map(notify.channels.map((c) => [c.name, c]));
  }

  /** Starts the background loop: a pass now, then at every wake-up and every `pollEvery`. */
  start(): void {
    this.running = true;
    this.wake();
  }

  /** Something was queued (or the clock moved): look at the queue soon. */
  wake(): void {
    if (!this.running || this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.loop(), 0);
    this.timer.unref();
  }

  private loop(): void {
    this.timer = null;
    if (this.closed) return;
    try {
      this.fill();
    } catch (err) {
      this.ctx.log.error({ err }, 'notify: reading the delivery queue failed');
    }
    if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => this.loop(), this.notify.pollEvery);
      this.timer.unref();
    }
  }

  /** Starts due deliveries up to the concurrency limit; returns their promises. */
  private fill(): Promise<void>[] {
    const room = this.notify.concurrency - this.inFlight.size;
    if (room <= 0 || !this.ctx.db.isOpen) return [];
    const rows = dueDeliveries(this.ctx.db, this.ctx.now(), room, new Set(this.inFlight.keys()));
    return rows.map((row) => {
      const p = this.attempt(row).finally(() => {
        this.inFlight.delete(row.id);
        if (this.running) this.wake();
      });
      this.inFlight.set(row.id, p);
      return p;
    });
  }

  /**
   * For tests and tools: delivers everything due at `ctx.now()` (and what becomes due while it
   * runs, when the clock is moved), waiting for each attempt. Returns the attempts made.
   */
  async runDue(): Promise<number> {
    let attempts = 0;
    for (;;) {
      const started = this.fill();
      if (started.length === 0 && this.inFlight.size === 0) return attempts;
      attempts += started.length;
      await Promise.race([...this.inFlight.values()]);
    }
  }

  /** When the next pending delivery is due (ms), or null. */
  nextDueAt(): number | null {
    return nextDueAt(this.ctx.db);
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const channel = this.channels.get(row.channel);
    const now = this.ctx.now();
    const { db, log } = this.ctx;
    if (!channel) {
      const error = `channel ${JSON.stringify(row.channel)} is no longer in notify.channels`;
      markDead(db, row.id, now, error, false);
      this.metrics.deliveries.inc({ channel: row.channel, outcome: 'dead' });
      log.warn({ delivery: row.id, channel: row.channel }, `notify: ${error}; dead letter`);
      return;
    }
    const attempt = row.attempts + 1;
    let outcome: Outcome;
    try {
      const event = JSON.parse(row.payload) as NotifyEvent;
      const meta: DeliveryMeta = {
        key: row.idempotency_key,
        attempt,
        now,
        timezone: this.ctx.config.timezone,
        locale: channel.locale ?? this.notify.locale,
        instrumentUrl: this.notify.instrumentUrl,
      };
      outcome =
        channel.type === 'email'
          ? await this.mailers.send(channel, emailMessage(event, meta))
          : await sendHttp(channel, httpRequest(channel, event, meta), this.ctx.now);
    } catch (err) {
      outcome = { ok: false, retry: true, error: `could not send: ${(err as Error).message}` };
    }
    if (!db.isOpen) return;
    const done = this.ctx.now();
    if (outcome.ok) {
      markDelivered(db, row.id, done);
      this.metrics.deliveries.inc({ channel: row.channel, outcome: 'delivered' });
      log.debug({ delivery: row.id, channel: row.channel, attempt }, 'notify: delivered');
    } else if (!outcome.retry || attempt >= this.notify.retry.attempts) {
      markDead(db, row.id, done, outcome.error);
      this.metrics.deliveries.inc({ channel: row.channel, outcome: 'dead' });
      log.warn(
        { delivery: row.id, channel: row.channel, attempt, error: outcome.error },
        outcome.retry
          ? 'notify: last try failed; dead letter'
          : 'notify: refused, retrying cannot help; dead letter',
      );
    } else {
      const wait = Math.max(
        backoffMs(this.notify.retry, attempt, (this.opts.random ?? Math.random)()),
        Math.min(outcome.retryAfterMs ?? 0, this.notify.retry.maxDelay),
      );
      markRetry(db, row.id, done, done + wait, outcome.error);
      this.metrics.deliveries.inc({ channel: row.channel, outcome: 'retry' });
      log.info(
        { delivery: row.id, channel: row.channel, attempt, retryInMs: wait, error: outcome.error },
        'notify: attempt failed; will retry',
      );
    }
    this.opts.onAttempt?.(row, outcome);
  }

  /** Stops the loop and waits (at most `graceMs`) for deliveries in flight; the rest stay pending. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = [...this.inFlight.values()];
    if (pending.length > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((r) => {
          t = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(t);
    }
    this.mailers.close();
  }
}
