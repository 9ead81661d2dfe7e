import { bytes, duration, instrumentId, loadConfigFile, parseConfig } from '@dayi/protocols';
import { z } from 'zod';
import { notifyConfigSchema } from './notify/pure/config.ts';

export const ROLES = ['platform', 'manager', 'auditor', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** SPEC classification thresholds on one signal: below standby is off, … at or above running is running. */
export const thresholdsSchema = z
  .object({
    signal: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,63}$/)
      .default('power_w'),
    standby: z.number().min(0),
    idle: z.number().min(0),
    running: z.number().min(0),
  })
  .refine((t) => t.standby <= t.idle && t.idle <= t.running, {
    message: 'thresholds must satisfy standby <= idle <= running',
  });
export type Thresholds = z.infer<typeof thresholdsSchema>;

/** One instrument of the registry, as the platform pushes it and `instruments:` seeds it. */
export const instrumentSchema = z.strictObject({
  id: instrumentId,
  name: z.string().max(200).optional(),
  org: z.string().max(200).optional(),
  category: z.string().max(100).optional(),
  quotaHours: z.number().min(0).max(8784).default(1400),
  idleDays: z.number().int().min(1).max(3650).optional(),
  thresholds: thresholdsSchema.optional(),
});
export type InstrumentInput = z.infer<typeof instrumentSchema>;

const hostPort = (port: number) =>
  z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(port),
  });

export const collectorConfigSchema = z.strictObject({
  http: hostPort(8080).default({ host: '127.0.0.1', port: 8080 }),
  mqtt: hostPort(1883)
    .extend({
      tls: z
        .object({ port: z.number().int().min(0).max(65535).default(8883), cert: z.string(), key: z.string() })
        .optional(),
      /** Largest MQTT packet accepted; bigger ones close the connection. */
      maxPacketBytes: bytes().default(256 * 1024),
    })
    .default({ host: '127.0.0.1', port: 1883, maxPacketBytes: 256 * 1024 }),
  store: z
    .object({
      sqlite: z.string().min(1).default('./data/dayi.sqlite'),
      /**
       * `normal`: an acknowledged message survives a crash of the process (kill -9); after a power
       * loss the last commits may be missing, never corrupted. `full`: it survives power loss too
       * (fsync at every commit), at about half the ingest rate.
       */
      sync: z.enum(['full', 'normal']).default('normal'),
    })
    .default({ sqlite: './data/dayi.sqlite', sync: 'normal' }),
  influx: z
    .object({
      url: z.url(),
      database: z.string().min(1).default('dayi'),
      token: z.string().optional(),
      username: z.string().optional(),
      password: z.string().optional(),
    })
    .optional(),
  timezone: z
    .string()
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'unknown IANA time zone')
    .default('Asia/Shanghai'),
  idleDays: z.number().int().min(1).max(3650).default(90),
  offlineAfter: duration().default(5 * 60_000),
  apiKeys: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        key: z.string().min(16, 'API keys need at least 16 characters'),
        role: z.enum(ROLES),
      }),
    )
    .default([]),
  agents: z
    .array(
      z.strictObject({
        username: z.string().min(1),
        password: z.string().min(8, 'agent passwords need at least 8 characters'),
        instruments: z.array(instrumentId).min(1),
      }),
    )
    .default([]),
  instruments: z.array(instrumentSchema).default([]),
  /** Notifications: channels, routes, retries, the weekly idle digest (notify/pure/config.ts). */
  notify: notifyConfigSchema.default(notifyConfigSchema.parse({})),
  log: z
    .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type CollectorConfig = z.infer<typeof collectorConfigSchema>;
/** What `build()` accepts: the YAML shape before defaults (durations as `5m` or ms). */
export type CollectorConfigInput = z.input<typeof collectorConfigSchema>;

export function parseCollectorConfig(input: CollectorConfigInput): CollectorConfig {
  return collectorConfigSchema.parse(input);
}

export function loadCollectorConfig(file: string, env?: NodeJS.ProcessEnv): CollectorConfig {
  return loadConfigFile(file, collectorConfigSchema, env ? { env } : {});
}

export function parseCollectorConfigText(text: string, env?: NodeJS.ProcessEnv): CollectorConfig {
  return parseConfig(text, collectorConfigSchema, env ? { env } : {});
}
