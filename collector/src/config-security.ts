/**
 * The configuration of the collector's borders (issue 9): TLS for HTTP and MQTT, agent identity,
 * CONNECT throttling, limits on refused publishes and on what the store keeps of them, clock skew.
 * Imported into config.ts; every key is documented in docs/configuration.md and docs/security.md.
 */
import { bytes, duration } from '@dayi/protocols';
import { z } from 'zod';

/**
 * Agent usernames (and the CN of an agent certificate). No `:` or `/`: a client id belongs to the
 * username it equals or that it starts with followed by `:` or `/` (broker/identity.ts), so no
 * username may be a prefix of another's client ids.
 */
export const AGENT_USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
export const agentUsername = z
  .string()
  .regex(AGENT_USERNAME_PATTERN, 'letters, digits and . _ @ - only (no : or /), at most 128 characters');

/** PEM text or a file path, as for `mqtt.tls`. */
const pemSource = z.string().min(1);

export const httpTlsSchema = z.strictObject({ cert: pemSource, key: pemSource });

export const mqttTlsSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8883),
  cert: pemSource,
  key: pemSource,
  /** CA(s) that sign agent certificates: with it the listener asks agents for a certificate. */
  ca: pemSource.optional(),
  /** With `ca`: refuse TLS connections that present no valid client certificate. */
  requireClientCert: z.boolean().default(false),
});

export const connectThrottleSchema = z.strictObject({
  /** Failed CONNECTs per address, and per username, before backoff starts. */
  freeFailures: z.number().int().min(0).max(1000).default(5),
  /** First backoff after the free failures; doubles with each further failure. */
  backoff: duration().default(1000),
  /**
   * Below the agent's 30 s connect timeout: a CONNECT held for a backed-off username must still be
   * answered before the real agent gives up on it.
   */
  maxBackoff: duration().default(20_000),
  /** Failures older than this are forgotten. */
  forgetAfter: duration().default(15 * 60_000),
  /** CONNECTs of one backed-off username held (CONNACK delayed) at once; more are refused. */
  maxHeld: z.number().int().min(0).max(100).default(4),
});
export const CONNECT_THROTTLE_DEFAULTS = connectThrottleSchema.parse({});

export const rejectLimitsSchema = z.strictObject({
  /** Refused publishes per agent (username) and minute that are stored and logged one by one. */
  perMinute: z.number().int().min(1).max(1_000_000).default(120),
  /** Refused publishes beyond the rate within one minute after which the client is disconnected. */
  disconnectAfter: z.number().int().min(1).max(10_000_000).default(1000),
  /** How long an agent disconnected for refused publishes is refused at CONNECT (doubles on repeat). */
  banFor: duration().default(60_000),
});
export const REJECT_LIMITS_DEFAULTS = rejectLimitsSchema.parse({});

export const rejectedRetentionSchema = z.strictObject({
  /** Bound of the `rejected` table (its excerpts and reasons); the oldest rows go first. */
  maxBytes: bytes().default(4 * 1024 * 1024),
  /** Rows not seen again for this long are deleted. */
  maxAge: duration().default(30 * 86_400_000),
});
export const REJECTED_RETENTION_DEFAULTS = rejectedRetentionSchema.parse({});

/** How far ahead of the collector's clock an event time may be. */
export const maxClockSkew = () => duration().default(10 * 60_000);

/**
 * `http.rateLimit`: requests per window, counted per API key (a valid one), else per client
 * address (no key, or a wrong one: so guessing keys is slowed too). On by default; /healthz,
 * /metrics and /docs are not counted.
 */
export const rateLimitSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Requests per window for each valid API key. */
  perKey: z.number().int().min(1).max(10_000_000).default(3000),
  /** Requests per window for each client address without a valid key. */
  perAddress: z.number().int().min(1).max(10_000_000).default(600),
  window: duration().default(60_000),
});

/**
 * `http.cors`: off unless origins are listed. Exact origins (`https://dash.example.edu.cn`), or
 * `*` for any origin (then never with credentials). The API key travels in Authorization, so
 * browsers send it only to the origins allowed here.
 */
export const corsSchema = z
  .strictObject({
    origins: z.array(z.string().min(1)).default([]),
    /** Access-Control-Allow-Credentials; not with `*`. */
    credentials: z.boolean().default(false),
    /** How long a browser may cache a preflight answer, seconds. */
    maxAge: z.number().int().min(0).max(86_400).default(600),
  })
  .refine((c) => !(c.credentials && c.origins.includes('*')), {
    error: 'credentials: true needs exact origins, not *',
    path: ['credentials'],
  });
