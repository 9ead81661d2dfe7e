/**
 * alerts/: the alert lifecycle with its persistence, and the detection pass that feeds it from the
 * ledger (I/O: SQLite, timers). The detectors themselves are pure, in ../detect/.
 */
import type { CollectorContext } from '../context.ts';
import type { Ingest } from '../ingest/types.ts';
import { type BookingsProvider, createDetectionRunner, type DetectionRunner } from './runner.ts';
import { type AlertStore, createAlertStore } from './store.ts';
import type { AlertChange } from './types.ts';

export type { BookingsProvider } from './runner.ts';
export type { AlertChange } from './types.ts';

export interface AlertsOptions {
  /**
   * Told of every alert change synchronously, inside the SQLite transaction that writes it: queue
   * a notification there and it is sent exactly when the change is kept. Throwing rolls the change back.
   */
  onChange?: (change: AlertChange) => void;
  /** The platform's bookings (out_of_hours ignores booked time); default: none. */
  bookingsOf?: BookingsProvider;
}

export interface AlertService {
  store: AlertStore;
  runner: DetectionRunner;
  start(): void;
  /** Call when the collector begins to shut down, before the broker closes. */
  stopping(): void;
  close(): void;
}

/** Builds the store and the detection pass; `start()` begins the passes. Call before the broker starts. */
export function createAlerts(
  ctx: CollectorContext,
  ingest: Pick<Ingest, 'onCommitted'>,
  opts: AlertsOptions = {},
): AlertService {
  const { alerts } = ctx.config;
  const store = createAlertStore(ctx.db, {
    ...(opts.onChange ? { onChange: opts.onChange } : {}),
    clearAfterMs: alerts.clearAfter,
    reopenWithinMs: alerts.reopenWithin,
  });
  const runner = createDetectionRunner(ctx, store, ingest, {
    ...(opts.bookingsOf ? { bookingsOf: opts.bookingsOf } : {}),
    everyMs: alerts.detectEvery,
  });
  return {
    store,
    runner,
    start: () => runner.start(),
    stopping: () => runner.stopping(),
    close: () => runner.close(),
  };
}
