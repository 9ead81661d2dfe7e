/**
 * PUBACKs as one 4-byte write. Aedes 1.2 writes every packet with mqtt-packet's `writeToStream`,
 * which writes a PUBACK as three small chunks (type, length, packet id) under its own cork; flushed,
 * those go out as a `writev` of three buffers, one per acknowledgement. With the fleet's shape (many
 * agents, one message each per commit) that was 10–15 % of the ingest thread (bench/fleet). One
 * buffer per PUBACK takes Node's plain write path instead; the bytes on the wire are the same, and
 * the broker's cork (index.ts) still gathers a socket's acknowledgements of one commit in one write.
 */
import mqttPacket from 'mqtt-packet';

type WriteToStream = typeof mqttPacket.writeToStream;

let installed = false;

/** Replaces mqtt-packet's `writeToStream` for MQTT 3.1.1 PUBACKs (idempotent, process-wide). */
export function installPubackWriter(): void {
  if (installed) return;
  installed = true;
  const original: WriteToStream = mqttPacket.writeToStream;
  const fast = ((packet, stream, opts) => {
    const id = (packet as { messageId?: unknown }).messageId;
    if (
      packet.cmd === 'puback' &&
      ((opts as { protocolVersion?: number } | undefined)?.protocolVersion ?? 4) !== 5 &&
      typeof id === 'number' &&
      id >= 0 &&
      id <= 0xffff
    ) {
      const bytes = Buffer.allocUnsafe(4);
      bytes[0] = 0x40;
      bytes[1] = 2;
      bytes.writeUInt16BE(id, 2);
      return stream.write(bytes);
    }
    return original(packet, stream, opts);
  }) as WriteToStream;
  mqttPacket.writeToStream = fast;
}
