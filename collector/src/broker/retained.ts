import type { DatabaseSync } from 'node:sqlite';
import { TOPIC_ROOT } from '@dayi/protocols';

/** The slice of aedes' persistence used here (aedes-persistence 11, not in aedes' types). */
export interface RetainedStore {
  storeRetained(packet: {
    cmd: 'publish';
    topic: string;
    payload: Buffer;
    qos: 0 | 1 | 2;
    retain: boolean;
    dup: boolean;
  }): Promise<void>;
}

/**
 * Aedes keeps retained messages in memory, so after a restart they are rebuilt from the ledger:
 * each instrument's latest `state` (by event time) and latest `status` (by arrival), exactly the
 * messages that were retained when the collector stopped. Returns how many were restored.
 */
export async function reseedRetained(db: DatabaseSync, store: RetainedStore): Promise<number> {
  const rows = db
    .prepare(
      `SELECT m.instrument_id AS id, m.kind AS kind, m.payload AS payload
       FROM instrument_status s JOIN messages m ON m.id = s.state_message_id
       UNION ALL
       SELECT m.instrument_id, m.kind, m.payload
       FROM instrument_status s JOIN messages m ON m.id = s.status_message_id`,
    )
    .all() as { id: string; kind: string; payload: string }[];
  for (const row of rows) {
    await store.storeRetained({
      cmd: 'publish',
      topic: `${TOPIC_ROOT}/${row.id}/${row.kind}`,
      payload: Buffer.from(row.payload, 'utf8'),
      qos: 1,
      retain: true,
      dup: false,
    });
  }
  return rows.length;
}
