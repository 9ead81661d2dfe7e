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
  busyTimeoutMs: number;
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
db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(data.busyTimeoutMs))}`);
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');

let lastError: string | null = null;

function checkpoint(): void {
  try {
    const r = passive.get() as unknown as CheckpointRow;
    // Under steady writes a passive checkpoint rarely finds the WAL fully copied at the moment the
    // writer starts its next transaction, which is when the WAL would start over: RESTART waits
    // for the writer, so the file stays bounded.
    if (r.log >= data.restartAfterFrames) restart.get();
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
