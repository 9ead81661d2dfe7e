import { bytes, didYouMean, duration, instrumentId, loadConfigFile, parseConfig } from '@dayi/protocols';
import { z } from 'zod';
import { ALERTS_DEFAULTS, alertsConfigSchema, anomalySchema } from './alerts/config.ts';
import {
  agentUsername,
  connectThrottleSchema,
  corsSchema,
  httpTlsSchema,
  maxClockSkew,
  mqttTlsSchema,
  rateLimitSchema,
  rejectedRetentionSchema,
  rejectLimitsSchema,
} from './config-security.ts';
import { DEFAULT_SERIES_RETENTION_MS, influxConfigSchema, seriesConfigSchema } from './influx/config.ts';
import { notifyConfigSchema } from './notify/pure/config.ts';

export const ROLES = ['platform', 'manager', 'auditor', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Metrics registry thresholds may classify: the active power or the current of a power meter or a
 * CT clamp, total or per phase (SPEC's rule "below standby is off…" is about how much the
 * instrument draws). A closed list, so that a typo (`powr_w`) is refused instead of leaving the
 * instrument unclassified for good.
 */
export const THRESHOLD_SIGNALS = [
  'power_w',
  'power_l1_w',
  'power_l2_w',
  'power_l3_w',
  'current_a',
  'current_l1_a',
  'current_l2_a',
  'current_l3_a',
] as const;

/** SPEC classification thresholds on one signal: below standby is off, … at or above running is running. */
export const thresholdsSchema = z
  .strictObject({
    signal: z
      .string()
      .refine((s) => (THRESHOLD_SIGNALS as readonly string[]).includes(s), {
        error: (iss) =>
          `unknown signal ${JSON.stringify(iss.input)}${didYouMean(String(iss.input), THRESHOLD_SIGNALS)}: ` +
          `thresholds classify one of ${THRESHOLD_SIGNALS.join(', ')}`,
      })
      .default('power_w'),
    // 0 would make a 0 W reading (unplugged) powered: off could never be reached (as the agent says).
    standby: z
      .number()
      .gt(
        0,
        "must be above 0: at 0 an unplugged instrument counts as powered and off is never reached (set it above the meter's noise floor; dayi agent calibrate suggests one)",
      ),
    idle: z.number().min(0),
    running: z.number().min(0),
  })
  .refine((t) => t.standby <= t.idle && t.idle <= t.running, {
    error: (iss) => {
      const t = iss.input as { standby: number; idle: number; running: number };
      return `standby ${t.standby}, idle ${t.idle}, running ${t.running} do not rise: use standby <= idle <= running`;
    },
  });
export type Thresholds = z.infer<typeof thresholdsSchema>;

/**
 * Thresholds as read back from the store: written by this or an earlier version, which took any
 * metric name as the signal. Lenient on purpose: data already accepted is never refused later.
 */
export const storedThresholdsSchema: z.ZodType<Thresholds> = z.object({
  signal: z.string().min(1).default('power_w'),
  standby: z.number().min(0),
  idle: z.number().min(0),
  running: z.number().min(0),
});

/** A name shown to people: leave it out rather than give it empty or blank. */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => v.trim() !== '', 'is empty: give a value, or leave the field out');

/** One instrument of the registry, as the platform pushes it and `instruments:` seeds it. */
export const instrumentSchema = z.strictObject({
  id: instrumentId,
  name: text(200).optional(),
  org: text(200).optional(),
  category: text(100).optional(),
  quotaHours: z.number().min(0).max(8784).default(1400),
  idleDays: z.number().int().min(1).max(3650).optional(),
  thresholds: thresholdsSchema.optional(),
  anomaly: anomalySchema.optional(),
});
export type InstrumentInput = z.infer<typeof instrumentSchema>;

const hostPort = (port: number) =>
  z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(port),
  });

export const collectorConfigSchema = z
  .strictObject({
    http: hostPort(8080)
      .extend({
        tls: httpTlsSchema.optional(),
        rateLimit: rateLimitSchema.prefault({}),
        cors: corsSchema.prefault({}),
      })
      .prefault({}),
    mqtt: hostPort(1883)
      .extend({
        tls: mqttTlsSchema.optional(),
        /** Largest MQTT packet accepted; bigger ones close the connection. */
        maxPacketBytes: bytes().default(256 * 1024),
        maxClockSkew: maxClockSkew(),
        connectThrottle: connectThrottleSchema.prefault({}),
        rejects: rejectLimitsSchema.prefault({}),
      })
      .prefault({}),
    store: z
      .strictObject({
        sqlite: z.string().min(1).default('./data/dayi.sqlite'),
        /**
         * `normal`: an acknowledged message survives a crash of the process (kill -9); after a power
         * loss the last commits may be missing, never corrupted. `full`: it survives power loss too
         * (fsync at every commit), at about half the ingest rate.
         */
        sync: z.enum(['full', 'normal']).default('normal'),
        rejected: rejectedRetentionSchema.prefault({}),
      })
      .prefault({}),
    influx: influxConfigSchema.optional(),
    series: seriesConfigSchema.default({ retention: DEFAULT_SERIES_RETENTION_MS }),
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
          /** Confines the key to this org's instruments on every route (api/scope.ts). */
          org: text(200).optional(),
        }),
      )
      .default([]),
    agents: z
      .array(
        z.strictObject({
          username: agentUsername,
          /** Optional only for agents that authenticate with a certificate (mqtt.tls.ca). */
          password: z.string().min(8, 'agent passwords need at least 8 characters').optional(),
          instruments: z.array(instrumentId).min(1),
        }),
      )
      .default([]),
    instruments: z.array(instrumentSchema).default([]),
    /** Notifications: channels, routes, retries, the weekly idle digest (notify/pure/config.ts). */
    notify: notifyConfigSchema.default(notifyConfigSchema.parse({})),
    /** Anomaly detectors and alerts: defaults, per-type switches (alerts/config.ts). */
    alerts: alertsConfigSchema.default(ALERTS_DEFAULTS),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .default({ level: 'info' }),
  })
  .superRefine((c, ctx) => {
    c.agents.forEach((a, i) => {
      if (a.password === undefined && !c.mqtt.tls?.ca) {
        ctx.addIssue({
          code: 'custom',
          path: ['agents', i, 'password'],
          message: 'required unless agents authenticate with certificates (mqtt.tls.ca)',
        });
      }
    });
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
