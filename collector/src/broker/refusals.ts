/**
 * Refusal notices (protocols/src/mqtt/refusal.ts, docs/mqtt.md): an agent whose publish the
 * collector refuses hears why, BEFORE the PUBACK that would otherwise make it delete the message.
 *
 * The notice is written straight onto the publishing client's connection, QoS 0, while the broker
 * still holds the PUBACK back (`authorizePublish` has not called back yet): on one TCP connection
 * bytes arrive in the order they were written, so the agent reads the notice first. It is not
 * routed through Aedes: nobody else gets it, and no persistence or QoS 1 state is involved.
 * Only a client that subscribed to its own refusal topic gets notices (an older agent would not
 * know what to do with an unexpected PUBLISH).
 */
import {
  KEEP_CLASSES,
  MAX_PAYLOAD_BYTES,
  type RefusalClass,
  type RefusalNotice,
  refusalTopicFor,
} from '@dayi/protocols';
import type { Client, PublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { IngestOutcome } from '../ingest/index.ts';

/**
 * Writes the notice for a refused publish to `client` if it asked for notices; returns whether it
 * did. `username` is the agent's (a client that is no agent never subscribed, see maySubscribe).
 */
export function sendRefusalNotice(
  client: Client | null,
  username: string | undefined,
  packet: PublishPacket,
  outcome: IngestOutcome,
  now: number,
): boolean {
  if (!client || username === undefined || !outcome.rejectClass) return false;
  const topic = refusalTopicFor(username);
  const subscriptions = (client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions;
  if (!subscriptions?.[topic] || !client.conn || client.conn.destroyed) return false;
  const notice = refusalNoticeFor(packet, outcome.rejectClass, outcome.reason ?? outcome.rejectClass, now);
  const bytes = mqttPacket.generate(
    { cmd: 'publish', topic, payload: JSON.stringify(notice), qos: 0, retain: false, dup: false },
    { protocolVersion: (client as unknown as { version?: number }).version ?? 4 },
  );
  client.conn.write(bytes);
  return true;
}

/** The notice for one refused publish (pure). */
export function refusalNoticeFor(
  packet: Pick<PublishPacket, 'topic' | 'payload' | 'messageId'>,
  rejectClass: RefusalClass,
  reason: string,
  now: number,
): RefusalNotice {
  return {
    ts: now,
    topic: packet.topic,
    seq: seqOf(packet.payload),
    messageId: typeof packet.messageId === 'number' ? packet.messageId : null,
    class: rejectClass,
    reason,
    keep: KEEP_CLASSES.has(rejectClass),
  };
}

/** The `seq` of a payload, if it is a JSON object with a whole-number seq: how the agent finds the message. */
function seqOf(payload: string | Buffer): number | null {
  if (payload.length > MAX_PAYLOAD_BYTES) return null;
  try {
    const v = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) as {
      seq?: unknown;
    };
    return typeof v?.seq === 'number' && Number.isSafeInteger(v.seq) && v.seq >= 0 ? v.seq : null;
  } catch {
    return null;
  }
}
