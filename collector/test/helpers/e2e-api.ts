import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { build, LOG_REDACT } from '../../src/app.ts';
import type { CollectorConfigInput } from '../../src/config.ts';
import type { IngestOutcome } from '../../src/ingest/types.ts';

/** Collectors for API tests driven with `inject()`: in-memory store, MQTT on a free port. */

export const KEYS = {
  platform: 'platform-key-0123456789abcdef',
  manager: 'manager-key-0123456789abcdef',
  auditor: 'auditor-key-0123456789abcdef',
  technician: 'technician-key-0123456789ab',
  admin: 'admin-key-0123456789abcdef',
} as const;

export function apiConfig(extra: Partial<CollectorConfigInput> = {}): CollectorConfigInput {
  return {
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { host: '127.0.0.1', port: 0 },
    store: { sqlite: ':memory:', sync: 'normal' },
    apiKeys: Object.entries(KEYS).map(([role, key]) => ({
      name: `${role}-key`,
      key,
      role: role as keyof typeof KEYS,
    })),
    agents: [{ username: 'lab3-pc7', password: 'agent-password-1', instruments: ['ZJ-NMR-0001'] }],
    instruments: [
      {
        id: 'ZJ-NMR-0001',
        name: '600 MHz NMR',
        org: 'Zhejiang University',
        category: 'NMR',
        quotaHours: 1400,
        thresholds: { signal: 'power_w', standby: 5, idle: 80, running: 400 },
      },
    ],
    ...extra,
  };
}

/** A pino logger writing into a string, to check what the collector logs (and what it never does). */
export function memoryLogger(level = 'trace') {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const logger = pino({ level, redact: { paths: LOG_REDACT, censor: '[redacted]' } }, stream);
  return { logger, text: () => text };
}

export async function buildApi(
  extra: Partial<CollectorConfigInput> = {},
  now?: () => number,
): Promise<FastifyInstance> {
  return build(apiConfig(extra), { logger: false, ...(now ? { now } : {}) });
}

export function auth(role: keyof typeof KEYS) {
  return { authorization: `Bearer ${KEYS[role]}` };
}

/** Feeds one SPEC message straight to ingest, as a trusted in-process caller. */
export function submit(
  app: FastifyInstance,
  id: string,
  kind: string,
  payload: unknown,
): Promise<IngestOutcome> {
  return app.dayi.ingest.submit({
    topic: `dayi/v1/${id}/${kind}`,
    payload: Buffer.from(JSON.stringify(payload)),
    clientId: 'test',
    username: null,
    allowedInstruments: 'all',
    receivedAt: Date.now(),
  });
}
