import {
  decodePayload,
  type ParsedTopic,
  parseTopic,
  type RefusalClass,
  type TopicKind,
  type TopicPayloads,
} from '@dayi/protocols';
import type { IncomingMessage } from './types.ts';

/** Reason classes of `dayi_mqtt_rejected_total{reason}`, also those of refusal notices. */
export type RejectClass = RefusalClass;

export interface ValidateOptions {
  /** How far ahead of `receivedAt` an event time may be, ms (mqtt.maxClockSkew). */
  maxClockSkew: number;
}

export type Validated =
  | {
      ok: true;
      instrumentId: string;
      kind: TopicKind;
      payload: TopicPayloads[TopicKind];
      /** The payload as received (valid UTF-8 JSON), kept verbatim in the ledger. */
      text: string;
    }
  | {
      ok: false;
      outcome: 'rejected' | 'unauthorized';
      rejectClass: RejectClass;
      /** Kind from the topic when it parsed, for the messages{kind} label. */
      kind: TopicKind | 'unknown';
      reason: string;
    };

// Valid topics by their text: every instrument publishes on the same few topics all day.
const topics = new Map<string, ParsedTopic>();

function topicOf(text: string): ParsedTopic | null {
  const known = topics.get(text);
  if (known) return known;
  const parsed = parseTopic(text);
  if (parsed) {
    if (topics.size >= 100_000) topics.clear();
    topics.set(text, parsed);
  }
  return parsed;
}

/** Pure check of one message: topic, then authorization, then payload, then clock. Never throws. */
export function validateMessage(
  msg: IncomingMessage,
  opts: ValidateOptions = { maxClockSkew: Number.POSITIVE_INFINITY },
): Validated {
  const topic = topicOf(msg.topic);
  if (!topic) {
    return {
      ok: false,
      outcome: 'rejected',
      rejectClass: 'invalid_topic',
      kind: 'unknown',
      reason: `topic: ${JSON.stringify(msg.topic.slice(0, 200))} is not dayi/v1/{instrument id}/{telemetry|state|status|event}`,
    };
  }
  const { instrumentId, kind } = topic;
  if (msg.allowedInstruments !== 'all' && !msg.allowedInstruments.has(instrumentId)) {
    return {
      ok: false,
      outcome: 'unauthorized',
      rejectClass: 'not_authorized',
      kind,
      reason: msg.username
        ? `topic: agent ${JSON.stringify(msg.username)} is not registered for instrument ${instrumentId}`
        : `topic: no authenticated agent may publish for instrument ${instrumentId}`,
    };
  }
  const decoded = decodePayload(kind, msg.payload);
  if (!decoded.ok) {
    return {
      ok: false,
      outcome: 'rejected',
      rejectClass: decoded.reason.startsWith('payload too large') ? 'too_large' : 'invalid_payload',
      kind,
      reason: decoded.reason,
    };
  }
  const ahead = decoded.payload.ts - msg.receivedAt;
  if (ahead > opts.maxClockSkew) {
    // One agent with a wrong clock would otherwise push lastSeen (and its figures) into the future.
    return {
      ok: false,
      outcome: 'rejected',
      rejectClass: 'future_ts',
      kind,
      reason: `ts: ${new Date(decoded.payload.ts).toISOString()} is ${formatAhead(ahead)} ahead of the collector clock (mqtt.maxClockSkew ${formatAhead(opts.maxClockSkew)})`,
    };
  }
  return { ok: true, instrumentId, kind, payload: decoded.payload, text: decoded.text };
}

function formatAhead(ms: number): string {
  if (ms >= 86_400_000) return `${Math.round(ms / 86_400_000)} d`;
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}
