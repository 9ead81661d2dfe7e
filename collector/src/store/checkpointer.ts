import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { CheckpointWorkerData } from './checkpoint-worker.ts';

/** SQLite's own default: a checkpoint once the WAL holds this many pages. */
const SQLITE_AUTOCHECKPOINT = 1000;
const WAL_SIZE_LIMIT = 64 * 2 ** 20;

export interface CheckpointerOptions {
  sync: 'full' | 'normal';
  /** How often the background thread copies the WAL into the database file. */
  everyMs?: number;
  /** WAL frames after which the checkpoint waits for the writer so that the WAL starts over. */
  restartAfterFrames?: number;
  log: Pick<Logger, 'error' | 'warn'>;
}

export interface Checkpointer {
  /** Stops the thread after a last checkpoint; the writer's connection checkpoints again itself. */
  close(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the ingest thread. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses 1000 WAL pages: it copies the pages into the database file and fsyncs twice, and
 * with `node:sqlite` that blocks the event loop, so every pending PUBACK waits for it (about a
 * quarter of the ingest time in bench/ingest). Here the writer's automatic checkpoint is off and a
 * worker thread with its own connection checkpoints instead, which WAL mode allows concurrently
 * with the writer. Durability does not change: a commit is durable by the WAL, not the checkpoint.
 * If the thread fails, the writer's automatic checkpoint is switched back on.
 */
export function startCheckpointer(db: DatabaseSync, path: string, opts: CheckpointerOptions): Checkpointer {
  const data: CheckpointWorkerData = {
    path,
    sync: opts.sync,
    everyMs: opts.everyMs ?? 200,
    restartAfterFrames: opts.restartAfterFrames ?? 8 * SQLITE_AUTOCHECKPOINT,
  };
  const worker = new Worker(new URL('./checkpoint-worker.ts', import.meta.url), {
    workerData: data,
    // a small isolate: the thread only runs one prepared statement
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  worker.unref();
  db.exec('PRAGMA wal_autocheckpoint = 0');
  // After a restart of the WAL, give back the disk a burst of writes made it grow to.
  db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);

  let stopping = false;
  let exited = false;
  const fallBack = (why: string) => {
    if (!db.isOpen) return;
    db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`);
    opts.log.error(`WAL checkpoint thread ${why}: the writer checkpoints itself again`);
  };
  worker.on('message', (msg: { type?: string; message?: string }) => {
    if (msg?.type === 'error') opts.log.warn({ err: msg.message }, 'WAL checkpoint failed; will retry');
  });
  worker.on('error', (err) => fallBack(`failed (${err.message})`));
  worker.on('exit', (code) => {
    exited = true;
    if (!stopping) fallBack(`exited with code ${code}`);
  });

  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopping = true;
        if (exited) return resolve();
        worker.ref(); // keep the process alive until the thread has closed its connection
        worker.once('exit', () => resolve());
        worker.postMessage({ type: 'stop' });
      });
      return closing;
    },
  };
}
