/**
 * Refusal notices: how the collector tells an agent that it refused a publish, and why.
 *
 * MQTT 3.1.1 has no negative PUBACK, and the collector acknowledges every publish it refuses
 * (otherwise the agent would resend it forever, docs/architecture.md "Guarantees"). So before the
 * PUBACK of a refused publish, the broker writes a notice on the same connection, QoS 0, to
 * `$dayi/v1/agents/{username}/refused`, if that client subscribed to it (only the agent with that
 * username may). The notice thus arrives before the PUBACK it explains, and the agent can keep a
 * message whose refusal it or an administrator can lift, instead of deleting it on the PUBACK.
 *
 * No zod here: the agent's service process reads notices and never loads zod (docs/performance.md,
 * "Agent"). The zod schema for documentation and tests is `refusalNoticeSchema` (./payloads.ts).
 */

/** Why a publish was refused; the same classes as the collector's `dayi_mqtt_rejected_total{reason}`. */
export const REFUSAL_CLASSES = [
  'not_authorized',
  'invalid_topic',
  'invalid_payload',
  'too_large',
  'future_ts',
] as const;
export type RefusalClass = (typeof REFUSAL_CLASSES)[number];

/**
 * Refusals that do not depend on the message's bytes: the same message is accepted once
 * configuration changes (the collector registers the instrument for this agent, or the agent's
 * config is corrected). The agent keeps such messages; the others it drops (the collector keeps
 * a copy with the reason in its `rejected` table).
 */
export const KEEP_CLASSES: ReadonlySet<RefusalClass> = new Set(['not_authorized']);

export interface RefusalNotice {
  /** Collector clock when it refused, ms since the epoch. */
  ts: number;
  /** The topic of the refused publish. */
  topic: string;
  /** Its `seq`, when its payload was JSON with a numeric seq; null otherwise. */
  seq: number | null;
  /** Its MQTT packet identifier (QoS 1 and 2), null for QoS 0. */
  messageId: number | null;
  class: RefusalClass;
  /** What was wrong, as the collector logs it and keeps it in `rejected.reason`. */
  reason: string;
  /** Whether the sender should keep the message and send it again later (see KEEP_CLASSES). */
  keep: boolean;
}

export const REFUSAL_TOPIC_ROOT = '$dayi/v1/agents';

/** `$dayi/v1/agents/{username}/refused`: where the agent with this MQTT username hears of refusals. */
export function refusalTopicFor(username: string): string {
  return `${REFUSAL_TOPIC_ROOT}/${username}/refused`;
}

/** Reads a notice; null for anything that is not one (the agent ignores it then). */
export function parseRefusalNotice(raw: Uint8Array | string): RefusalNotice | null {
  let v: unknown;
  try {
    v = JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8'));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const n = v as Record<string, unknown>;
  const seq = n.seq;
  const messageId = n.messageId;
  if (
    typeof n.ts !== 'number' ||
    typeof n.topic !== 'string' ||
    typeof n.reason !== 'string' ||
    typeof n.keep !== 'boolean' ||
    !(REFUSAL_CLASSES as readonly unknown[]).includes(n.class) ||
    (seq !== null && typeof seq !== 'number') ||
    (messageId !== null && typeof messageId !== 'number')
  )
    return null;
  return {
    ts: n.ts,
    topic: n.topic,
    seq: seq as number | null,
    messageId: messageId as number | null,
    class: n.class as RefusalClass,
    reason: n.reason,
    keep: n.keep,
  };
}
