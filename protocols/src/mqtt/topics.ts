import { isInstrumentId } from '../ids.ts';

export const TOPIC_ROOT = 'dayi/v1';

/** The four topic kinds of MQTT v1, in SPEC order. */
export const TOPIC_KINDS = ['telemetry', 'state', 'status', 'event'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** Which kinds are published retained (SPEC table). */
export const RETAINED_KINDS: ReadonlySet<TopicKind> = new Set(['state', 'status']);

/** Kinds whose payload carries `seq` and is deduplicated by it. */
export const SEQUENCED_KINDS: ReadonlySet<TopicKind> = new Set(['telemetry', 'state', 'event']);

export function topicFor(instrumentId: string, kind: TopicKind): string {
  if (!isInstrumentId(instrumentId))
    throw new Error(`invalid instrument id: ${JSON.stringify(instrumentId)}`);
  return `${TOPIC_ROOT}/${instrumentId}/${kind}`;
}

export interface ParsedTopic {
  instrumentId: string;
  kind: TopicKind;
}

/** Parses `dayi/v1/{id}/{kind}`; null for anything else (including other roots and versions). */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return null;
  const id = parts[2]!;
  const kind = parts[3]!;
  if (!isInstrumentId(id) || !(TOPIC_KINDS as readonly string[]).includes(kind)) return null;
  return { instrumentId: id, kind: kind as TopicKind };
}

/** Subscription filter for every instrument's topics of one kind, or of all kinds. */
export function topicFilter(instrumentId = '+', kind: TopicKind | '+' = '+'): string {
  return `${TOPIC_ROOT}/${instrumentId}/${kind}`;
}
