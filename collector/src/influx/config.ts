import { duration } from '@dayi/protocols';
import { z } from 'zod';

/** At most this many lines go into one write request (the issue's bound; InfluxData suggests 5,000). */
export const MAX_BATCH_LINES = 5000;

/**
 * The gzip level `gzip: true` (the default) means. Measured on loopback (bench/influx,
 * docs/performance.md): level 1 costs the shipper less CPU than no gzip at all (compressing runs on
 * the thread pool, and sending 1/6 of the bytes saves more than that on the event loop), and is
 * ~2× cheaper than zlib's default 6 at ~10 % larger bodies.
 */
export const DEFAULT_GZIP_LEVEL = 1;

/** The gzip level the request bodies are compressed with, or null for none. */
export function gzipLevel(c: Pick<InfluxConfig, 'gzip'>): number | null {
  if (c.gzip === false) return null;
  return c.gzip === true ? DEFAULT_GZIP_LEVEL : c.gzip;
}

/**
 * `influx:`: where the collector ships its history. The v1-compatible HTTP API (`/write` line
 * protocol, `/query` InfluxQL) is served by InfluxDB 1.x natively, 2.x through its v1
 * compatibility (DBRP mapping, token) and 3.x Core/Enterprise natively. `api: v2` writes through
 * `/api/v2/write` with @influxdata/influxdb-client instead (org, bucket, token); reads still use
 * `/query`, so a 2.x server then needs the DBRP mapping for `database`.
 */
export const influxConfigSchema = z
  .strictObject({
    url: z.url(),
    database: z.string().min(1).default('dayi'),
    /** v1 retention policy to write into; the database's default when absent. */
    retentionPolicy: z.string().min(1).optional(),
    /** Sent as `Authorization: Token …` (2.x v1 compatibility, 3.x). */
    token: z.string().min(1).optional(),
    /** Sent as HTTP Basic authentication (1.x users; 2.x v1 authorizations). */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    api: z.enum(['v1', 'v2']).default('v1'),
    /** api v2 only: the organization and bucket written to. */
    org: z.string().min(1).optional(),
    bucket: z.string().min(1).optional(),
    /** Lines per write request, at most 5,000. */
    batchLines: z.number().int().min(1).max(MAX_BATCH_LINES).default(MAX_BATCH_LINES),
    /** gzip the request bodies (`Content-Encoding: gzip`): `true` (level 1), `false`, or a zlib level 1–9. */
    gzip: z.union([z.boolean(), z.number().int().min(1).max(9)]).default(true),
    /** How often the shipper looks for new ledger rows when it has caught up. */
    flushEvery: duration().default(1000),
    /** Backoff after a failed write doubles from 1 s up to this; a `Retry-After` is honoured up to it. */
    maxRetryDelay: duration().default(5 * 60_000),
    /** One HTTP request's time limit. */
    timeout: duration().default(30_000),
    /** At start, `CREATE DATABASE` when it is missing (1.x; needs the admin privilege; harmless elsewhere). */
    createDatabase: z.boolean().default(true),
  })
  .superRefine((c, ctx) => {
    if (c.token && c.username) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'use either token or username/password, not both',
      });
    }
    if (c.password !== undefined && !c.username) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'password needs a username' });
    }
    if (c.api === 'v2') {
      for (const key of ['org', 'bucket', 'token'] as const) {
        if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: `api v2 needs ${key}` });
      }
    }
  });
export type InfluxConfig = z.infer<typeof influxConfigSchema>;

export const DEFAULT_SERIES_RETENTION_MS = 30 * 86_400_000;

/**
 * `series:`: the time-series read route. Without InfluxDB the collector keeps the raw telemetry of
 * the last `retention` in a table of its own beside the ledger (the ledger itself is never pruned).
 */
export const seriesConfigSchema = z.strictObject({
  retention: duration()
    .refine((ms) => ms >= 3_600_000, 'must be at least 1h')
    .default(DEFAULT_SERIES_RETENTION_MS),
});
export type SeriesConfig = z.infer<typeof seriesConfigSchema>;
