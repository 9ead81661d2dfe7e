import type { CollectorContext } from '../context.ts';
import { createLedgerWriter, type LedgerItem, type LedgerResult } from './ledger.ts';
import { createRejectLimiter } from './rejects.ts';
import type {
  CommittedListener,
  CommittedMessage,
  IncomingMessage,
  Ingest,
  IngestCallback,
  IngestOutcome,
} from './types.ts';
import { validateMessage } from './validate.ts';

export type {
  CommittedListener,
  CommittedMessage,
  IncomingMessage,
  Ingest,
  IngestCallback,
  IngestOutcome,
  Outcome,
} from './types.ts';
export { validateMessage } from './validate.ts';

/** How often refused publishes that were only counted are summed up in the log. */
export const REJECT_SUMMARY_EVERY_MS = 60_000;
/** How often `rejected` rows older than store.rejected.maxAge are deleted. */
export const REJECTED_PRUNE_EVERY_MS = 3_600_000;

/** A batch is committed at the latest when it holds this many messages. */
export const MAX_BATCH = 1000;

interface Pending extends LedgerItem {
  done: IngestCallback;
  abusive?: true;
}

/**
 * Durable ingest with group commit: submissions made in the same turn of the event loop are
 * written in ONE transaction (flushed on setImmediate, or when MAX_BATCH are queued), and every
 * promise of the batch resolves only after COMMIT returned. With `store.sync: full` a resolved
 * submit has been fsynced (survives power loss); with `normal` it survives a killed process.
 */
export function createIngest(ctx: CollectorContext): Ingest {
  const { db, metrics, log } = ctx;
  const ledger = createLedgerWriter(db, ctx.config);
  const limiter = createRejectLimiter(ctx.config.mqtt.rejects);
  const validateOptions = { maxClockSkew: ctx.config.mqtt.maxClockSkew };
  const summary = setInterval(() => {
    for (const { key, suppressed } of limiter.drainSuppressed()) {
      log.warn(
        { agent: key, refused: suppressed, perMinute: ctx.config.mqtt.rejects.perMinute },
        'refused publishes over mqtt.rejects.perMinute: counted, not kept or logged one by one',
      );
    }
  }, REJECT_SUMMARY_EVERY_MS);
  summary.unref();
  const prune = () => {
    try {
      const n = ledger.pruneRejected(ctx.now());
      if (n > 0) log.info({ rows: n }, 'rejected: rows older than store.rejected.maxAge deleted');
    } catch (err) {
      log.warn({ err }, 'rejected: pruning old rows failed; will retry');
    }
  };
  prune();
  const pruner = setInterval(prune, REJECTED_PRUNE_EVERY_MS);
  pruner.unref();
  const listeners = new Set<CommittedListener>();
  let queue: Pending[] = [];
  let scheduled: NodeJS.Immediate | null = null;
  let closed = false;

  function schedule(): void {
    if (scheduled === null) scheduled = setImmediate(flush);
  }

  function flush(): void {
    if (scheduled !== null) {
      clearImmediate(scheduled);
      scheduled = null;
    }
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    const started = process.hrtime.bigint();
    let results: LedgerResult[];
    try {
      results = ledger.writeBatch(batch, ctx.now());
    } catch (err) {
      if (batch.length === 1 || isStoreFailure(err)) {
        fail(batch, err as Error);
        return;
      }
      // Fail one, not all: a message that breaks its transaction must not hold back the others.
      log.warn({ err, batch: batch.length }, 'ingest batch failed; retrying its messages one by one');
      for (let i = 0; i < batch.length; i++) {
        const item = batch[i]!;
        try {
          settle([item], ledger.writeBatch([item], ctx.now()), started);
        } catch (e) {
          if (isStoreFailure(e)) {
            fail(batch.slice(i), e as Error);
            return;
          }
          fail([item], e as Error);
        }
      }
      return;
    }
    settle(batch, results, started);
  }

  function reportRestarts(): void {
    for (const r of ledger.restarts()) {
      metrics.seqRestarts.inc({ kind: r.kind, cause: r.cause });
      log.warn(
        {
          instrumentId: r.instrumentId,
          kind: r.kind,
          seq: r.seq,
          ts: r.ts,
          cause: r.cause,
          epoch: r.epoch,
          previousEpoch: r.previousEpoch,
          gapFrom: r.gapFrom,
          username: r.username,
        },
        'agent seq started again (outbox lost?): new messages kept, the restart recorded in seq_restarts',
      );
    }
  }

  function settle(batch: readonly Pending[], results: readonly LedgerResult[], started: bigint): void {
    const failure = ctx.storeFailure;
    if (failure) {
      ctx.storeFailure = null;
      log.warn(
        { refused: failure.refused, since: new Date(failure.since).toISOString(), reason: failure.reason },
        'store accepts writes again: acknowledging messages',
      );
    }
    metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.commitBatch.observe(batch.length);
    if (ledger.restarts().length > 0) reportRestarts();
    const committed: CommittedMessage[] = [];
    // counted per batch: a labelled inc() per message costs more than the rest of settling
    const counts = new Map<string, number>();
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      // handed on as is: the broker reads `outcome` and `latest`; submit() strips `committed`
      const outcome = results[i]!;
      const c = outcome.committed;
      const v = item.validated;
      const key = `${v.kind}\u0000${outcome.outcome}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (!v.ok) {
        metrics.rejected.inc({ reason: v.rejectClass });
        if (item.keep === false) metrics.rejectedUnstored.inc();
        else {
          log.warn(
            {
              topic: item.msg.topic.slice(0, 200),
              clientId: item.msg.clientId?.slice(0, 128),
              username: item.msg.username,
            },
            `message ${outcome.outcome}: ${outcome.reason?.slice(0, 500)}`,
          );
        }
        if (item.abusive) outcome.abusive = true;
      }
      if (c) committed.push(c);
      try {
        item.done(null, outcome);
      } catch (err) {
        log.error({ err }, 'an ingest callback failed');
      }
    }
    for (const [key, n] of counts) {
      const [kind, outcome] = key.split('\u0000') as [string, string];
      metrics.messages.inc({ kind, outcome }, n);
    }
    if (committed.length > 0) {
      for (const listener of listeners) {
        try {
          listener(committed);
        } catch (err) {
          log.error({ err }, 'an ingest listener failed');
        }
      }
    }
  }

  /** Last time a store failure was logged: once at the start, then at most every STORE_FAILURE_LOG_MS. */
  let storeFailureLoggedAt = 0;

  function fail(batch: readonly Pending[], err: Error): void {
    if (isStoreFailure(err)) {
      const now = Date.now();
      const reason = storeFailureReason(err);
      const failure = ctx.storeFailure;
      if (!failure) {
        ctx.storeFailure = { reason, since: now, refused: batch.length };
        storeFailureLoggedAt = now;
        log.error(
          { err, messages: batch.length },
          `ledger write failed: messages not acknowledged: store refuses writes (${reason}) until it accepts them again; agents keep them and send them again`,
        );
      } else {
        failure.reason = reason;
        failure.refused += batch.length;
        if (now - storeFailureLoggedAt >= STORE_FAILURE_LOG_MS) {
          storeFailureLoggedAt = now;
          log.error(
            { err, refused: failure.refused, since: new Date(failure.since).toISOString() },
            `ledger write failed: messages not acknowledged: store still refuses writes (${reason})`,
          );
        }
      }
    } else log.error({ err, messages: batch.length }, 'ledger write failed: messages not acknowledged');
    for (const item of batch) {
      try {
        item.done(err);
      } catch (e) {
        log.error({ err: e }, 'an ingest callback failed');
      }
    }
  }

  function enqueue(msg: IncomingMessage, done: IngestCallback): void {
    if (closed) {
      done(new Error('ingest is closed'));
      return;
    }
    const validated = validateMessage(msg, validateOptions);
    if (validated.ok) queue.push({ msg, validated, done });
    else {
      // Refused: kept and logged within the agent's rate, beyond it only counted (and acknowledged).
      const verdict = limiter.take(msg.username ?? `client:${msg.clientId ?? ''}`, msg.receivedAt);
      queue.push({
        msg,
        validated,
        done,
        keep: verdict === 'keep',
        ...(verdict === 'disconnect' ? { abusive: true as const } : {}),
      });
    }
    if (queue.length >= MAX_BATCH) flush();
    else schedule();
  }

  return {
    submit(msg: IncomingMessage): Promise<IngestOutcome> {
      return new Promise<IngestOutcome>((resolve, reject) =>
        enqueue(msg, (err, outcome) => {
          if (err) return reject(err);
          const { committed: _, ...plain } = outcome as LedgerResult;
          resolve(plain);
        }),
      );
    },
    enqueue,
    onCommitted(listener: CommittedListener): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    invalidate(_instrumentId?: string): void {
      ledger.invalidate();
    },
    async close(): Promise<void> {
      closed = true;
      clearInterval(summary);
      clearInterval(pruner);
      flush();
    },
  };
}

// SQLite primary result codes that mean the store itself is failing (busy, read-only, I/O error,
// corrupt, full, …), not one message: retrying message by message would only repeat the failure
// (and, for BUSY, wait out busy_timeout once per message).
const STORE_FAILURES = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 26]);

const STORE_FAILURE_LOG_MS = 10_000;
const STORE_FAILURE_NAMES: Record<number, string> = {
  5: 'store busy (SQLITE_BUSY)',
  6: 'store locked (SQLITE_LOCKED)',
  7: 'out of memory (SQLITE_NOMEM)',
  8: 'store read-only (SQLITE_READONLY)',
  10: 'I/O error (SQLITE_IOERR)',
  11: 'store corrupt (SQLITE_CORRUPT)',
  13: 'disk full (SQLITE_FULL)',
  14: 'store cannot be opened (SQLITE_CANTOPEN)',
  15: 'store lock protocol error (SQLITE_PROTOCOL)',
  26: 'not a database (SQLITE_NOTADB)',
};

function storeFailureReason(err: unknown): string {
  const code = ((err as { errcode?: number }).errcode ?? 0) & 0xff;
  const message = (err as Error).message ?? String(err);
  return `${STORE_FAILURE_NAMES[code] ?? `SQLite error ${code}`}: ${message.slice(0, 200)}`;
}

function isStoreFailure(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && STORE_FAILURES.has(code & 0xff);
}
