/**
 * The WAL checkpointer's thread (see checkpointer.ts). It owns a second connection to the store
 * and copies committed WAL frames back into the database file, with the fsyncs that implies, so
 * the ingest thread never does. Messages to the parent: `{ type: 'error', message }` on a failed
 * checkpoint (it keeps trying), `{ type: 'closed' }` after its connection is closed.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

export interface CheckpointWorkerData {
  path: string;
  sync: 'full' | 'normal';
  everyMs: number;
  /** WAL frames after which a checkpoint also waits for the writer so that the WAL restarts. */
  restartAfterFrames: number;
}

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

const data = workerData as CheckpointWorkerData;
const port = parentPort;
if (!port) throw new Error('checkpoint-worker.ts runs as a worker thread');

const db = new DatabaseSync(data.path);
// Same durability as the writer: the checkpoint fsyncs the WAL before copying and the file after.
db.exec(`PRAGMA synchronous = ${data.sync === 'full' ? 'FULL' : 'NORMAL'}`);
// Never wait for the writer or for readers: a checkpoint that cannot go on now is tried next round.
db.exec('PRAGMA busy_timeout = 0');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');

let lastError: string | null = null;

/**
 * A RESTART holds the writer lock while it copies what the PASSIVE before it left, and fsyncs: it
 * is tried only when that is little, so the writer (whose BEGIN waits on that lock, blocking the
 * ingest thread) is held for a short copy at most. With a busy timeout of 0 on this connection it
 * never waits either: the writer lock taken, or readers still in the WAL, and it gives up (and
 * counts as a PASSIVE); the next round tries again. Past a hard bound it is tried whatever is left.
 */
const RESTART_REMAINDER_FRAMES = 256;

function checkpoint(): void {
  try {
    const r = passive.get() as unknown as CheckpointRow;
    // Under steady writes a passive checkpoint rarely finds the WAL fully copied at the moment the
    // writer starts its next transaction, which is when the WAL would start over by itself.
    if (
      r.log >= data.restartAfterFrames &&
      (r.log - r.checkpointed <= RESTART_REMAINDER_FRAMES || r.log >= 4 * data.restartAfterFrames)
    ) {
      restart.get();
    }
    lastError = null;
  } catch (err) {
    const message = (err as Error).message;
    if (message !== lastError) port?.postMessage({ type: 'error', message });
    lastError = message;
  }
}

const timer = setInterval(checkpoint, data.everyMs);

port.on('message', (msg: { type?: string }) => {
  if (msg?.type !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  port.postMessage({ type: 'closed' });
  port.close();
});
