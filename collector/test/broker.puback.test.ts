/**
 * PUBACKs leave as one 4-byte write (broker/puback.ts), byte for byte what mqtt-packet would have
 * written in three chunks; other packets still go through mqtt-packet.
 */
import { Writable } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { installPubackWriter } from '../src/broker/puback.ts';

function sink(): { stream: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, chunks };
}

describe('PUBACK writer', () => {
  it('writes each PUBACK as one buffer with the bytes mqtt-packet generates', async () => {
    installPubackWriter();
    for (const messageId of [1, 255, 256, 4660, 65535]) {
      const { stream, chunks } = sink();
      mqttPacket.writeToStream({ cmd: 'puback', messageId }, stream);
      await new Promise((r) => setImmediate(r));
      expect(chunks).toHaveLength(1);
      expect(chunks[0]).toEqual(mqttPacket.generate({ cmd: 'puback', messageId }));
    }
  });

  it('leaves other packets to mqtt-packet', async () => {
    installPubackWriter();
    const { stream, chunks } = sink();
    const packet = { cmd: 'suback' as const, messageId: 7, granted: [1] };
    mqttPacket.writeToStream(packet, stream);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(chunks)).toEqual(mqttPacket.generate(packet));
  });
});
