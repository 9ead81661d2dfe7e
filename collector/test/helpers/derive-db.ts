/**
 * A collector context on a temporary SQLite file, with the real ingest (createIngest) to write
 * messages exactly as MQTT would, and a movable clock. For the derive and query tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TopicKind, TopicPayloads } from '@dayi/protocols';
import { pino } from 'pino';
import { type CollectorConfigInput, parseCollectorConfig } from '../../src/config.ts';
import type { CollectorContext } from '../../src/context.ts';
import { createIngest, type Ingest } from '../../src/ingest/index.ts';
import { createMetrics } from '../../src/metrics.ts';
import { openDatabase } from '../../src/store/sqlite.ts';

export interface DeriveDb {
  ctx: CollectorContext;
  /** The real ingest the messages go through (its `onCommitted` feeds the detectors). */
  ingest: Ingest;
  /** The clock `ctx.now()` reads; tests move it. */
  clock: { now: number };
  /** Submits one message through the real ingest; resolves after COMMIT with its outcome. */
  send<K extends TopicKind>(
    id: string,
    kind: K,
    payload: TopicPayloads[K],
    receivedAt?: number,
  ): Promise<string>;
  /** Submits many in one turn (one group commit), in the given order. */
  sendAll(messages: readonly Message[]): Promise<string[]>;
  close(): Promise<void>;
}

export type Message = {
  [K in TopicKind]: { id: string; kind: K; payload: TopicPayloads[K]; receivedAt?: number };
}[TopicKind];

export function openDeriveDb(config: CollectorConfigInput = {}, now = Date.now()): DeriveDb {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-derive-'));
  const db = openDatabase(join(dir, 'dayi.sqlite'), { sync: 'normal' });
  const clock = { now };
  const ctx: CollectorContext = {
    config: parseCollectorConfig({ store: { sqlite: join(dir, 'dayi.sqlite') }, ...config }),
    db,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    now: () => clock.now,
  };
  const ingest = createIngest(ctx);
  const submit = (m: Message) =>
    ingest
      .submit({
        topic: `dayi/v1/${m.id}/${m.kind}`,
        payload: Buffer.from(JSON.stringify(m.payload)),
        clientId: 'test',
        username: null,
        allowedInstruments: 'all',
        receivedAt: m.receivedAt ?? clock.now,
      })
      .then((o) => o.outcome);
  return {
    ctx,
    ingest,
    clock,
    send: (id, kind, payload, receivedAt) => submit({ id, kind, payload, receivedAt } as Message),
    sendAll: (messages) => Promise.all(messages.map(submit)),
    async close() {
      await ingest.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Telemetry with an explicit state every `stepMs` from `from` (included) to `to` (excluded). */
export function telemetryEvery(
  id: string,
  from: string,
  to: string,
  stepMs: number,
  state: TopicPayloads['telemetry']['state'],
  seq: { next: number },
  metrics: Record<string, number> = {},
): Message[] {
  const out: Message[] = [];
  for (let ts = Date.parse(from); ts < Date.parse(to); ts += stepMs) {
    out.push({
      id,
      kind: 'telemetry',
      payload: { ts, seq: seq.next++, metrics, ...(state ? { state } : {}) },
    });
  }
  return out;
}
