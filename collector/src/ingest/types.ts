import type { RefusalClass as RejectClass, State, TopicKind, TopicPayloads } from '@dayi/protocols';

/** One MQTT PUBLISH as the broker hands it to ingest, before any validation. */
export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  clientId: string | null;
  username: string | null;
  /** Instrument ids the publishing agent is registered for; `'all'` for trusted in-process callers. */
  allowedInstruments: ReadonlySet<string> | 'all';
  /** Collector clock at arrival, ms since epoch. */
  receivedAt: number;
}

export type Outcome = 'accepted' | 'duplicate' | 'rejected' | 'unauthorized';

export interface IngestOutcome {
  outcome: Outcome;
  /** Why a message was rejected, unauthorized or a duplicate; names what was wrong. */
  reason?: string;
  /** For rejected and unauthorized messages: the reason class (`dayi_mqtt_rejected_total{reason}`). */
  rejectClass?: RejectClass;
  /**
   * Only for accepted `state`/`status`: true when this message is now the instrument's latest of
   * its kind (state by event time, status by arrival). A replayed older state must not replace
   * the retained one, so the broker clears `retain` when this is false.
   */
  latest?: boolean;
  /**
   * Set on a refused message when its agent keeps sending refused messages far beyond
   * mqtt.rejects.perMinute: the broker closes that client's connection (after the PUBACK).
   */
  abusive?: true;
}

/** An accepted message, as `onCommitted` listeners receive it after COMMIT. */
export interface CommittedMessage<K extends TopicKind = TopicKind> {
  messageId: number;
  instrumentId: string;
  kind: K;
  payload: TopicPayloads[K];
  /** Event time from the payload. */
  ts: number;
  receivedAt: number;
  /** The state evidence this message gave (null when none). */
  state: State | null;
}

export type CommittedListener = (messages: readonly CommittedMessage[]) => void;

/** Called once: with the outcome after COMMIT, or with the error when the store failed. */
export type IngestCallback = (err: Error | null, outcome?: IngestOutcome) => void;

export interface Ingest {
  /** Resolves only after the message's transaction has COMMITTED; rejects when the store failed. */
  submit(msg: IncomingMessage): Promise<IngestOutcome>;
  /**
   * `submit` for the broker's hot path: the callback runs synchronously right after COMMIT, in
   * submission order, with no promise per message (see broker/index.ts for why that matters).
   */
  enqueue(msg: IncomingMessage, done: IngestCallback): void;
  /** Called after each commit with the accepted (not duplicate) messages. Returns an unsubscribe. */
  onCommitted(listener: CommittedListener): () => void;
  /** Drops cached registry thresholds (of one instrument, or all) after the registry changed. */
  invalidate(instrumentId?: string): void;
  /** Flushes what is queued; later submits reject. */
  close(): Promise<void>;
}
