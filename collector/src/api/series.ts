/**
 * `GET /v1/instruments/{id}/series`: a metric of one instrument in time buckets, for charts.
 * Served by the configured series store: SQLite (the raw telemetry of the last `series.retention`)
 * or InfluxDB when `influx:` is configured. Registered inside `/v1`, so the API key check applies.
 */
import { METRIC_NAME_PATTERN, parseDuration } from '@dayi/protocols';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import { notInRegistry } from '../query/errors.ts';
import { instrumentExists } from '../query/registry.ts';
import { MAX_SERIES_BUCKETS, MIN_SERIES_EVERY_MS, SeriesUnavailableError } from '../series/types.ts';
import { ApiError } from './errors.ts';
import { errorResponse, idParams } from './schemas.ts';
import type { ZodTypeProvider } from './zod.ts';

const DEFAULT_SPAN_MS = 86_400_000;

const instant = z
  .string()
  .transform((v, ctx) => {
    const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(ms) || (!/^\d+$/.test(v) && !/T.*(Z|[+-]\d\d:\d\d)$/i.test(v))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be ISO 8601 with an offset (2026-11-29T08:00:00+08:00) or ms since the epoch',
      });
      return z.NEVER;
    }
    return ms;
  })
  .describe('ISO 8601 time with offset, or ms since the epoch');

export const seriesQuery = z
  .strictObject({
    metric: z
      .string()
      .regex(METRIC_NAME_PATTERN, 'must be a metric name in snake_case, e.g. power_w')
      .default('power_w')
      .describe('telemetry metric'),
    from: instant.optional().describe('start, included (default: 24 h before to)'),
    to: instant.optional().describe('end, excluded (default: now)'),
    every: z
      .string()
      .default('1m')
      .transform((v, ctx) => {
        try {
          const ms = parseDuration(v);
          if (ms >= MIN_SERIES_EVERY_MS && Number.isInteger(ms)) return { text: v, ms };
        } catch {
          // reported below
        }
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(v)} is not a duration of at least 1s: use e.g. 10s, 1m, 1h, 1d`,
        });
        return z.NEVER;
      })
      .describe('bucket width (10s, 1m, 1h, 1d); buckets are aligned to the epoch (UTC)'),
  })
  .describe('series query');

const bucket = z.object({
  t: z.string().describe('start of the bucket, ISO 8601 with offset'),
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  count: z.number().int().describe('samples in the bucket'),
});

export const seriesResponse = z
  .object({
    id: z.string(),
    metric: z.string(),
    from: z.string(),
    to: z.string(),
    every: z.string(),
    source: z.enum(['sqlite', 'influx']).describe('the store that answered'),
    points: z.array(bucket).describe('buckets with at least one sample, in time order'),
  })
  .describe('a metric in time buckets');

export async function seriesRoutes(root: FastifyInstance, { ctx }: { ctx: CollectorContext }): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/instruments/:id/series',
    {
      config: { permission: 'read', orgScope: 'instrument' },
      schema: {
        summary: 'A metric of one instrument in time buckets (mean, min, max, count), for charts',
        description:
          'From SQLite (the raw telemetry of the last `series.retention`, default 30 days) or, when `influx:` is configured, from InfluxDB. `from` is included, `to` excluded; empty buckets are left out.',
        tags: ['usage'],
        security: [{ apiKey: [] }],
        params: idParams,
        querystring: seriesQuery,
        response: {
          200: seriesResponse,
          400: errorResponse,
          401: errorResponse,
          403: errorResponse,
          404: errorResponse,
          503: errorResponse,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const to = q.to ?? ctx.now();
      const from = q.from ?? to - DEFAULT_SPAN_MS;
      if (from >= to) throw new ApiError('invalid_query', 'query.to: must be after from');
      const buckets = Math.ceil((to - from) / q.every.ms);
      if (buckets > MAX_SERIES_BUCKETS) {
        throw new ApiError(
          'invalid_query',
          `query.every: ${buckets} buckets between from and to, at most ${MAX_SERIES_BUCKETS}: widen every or narrow the period`,
        );
      }
      if (!instrumentExists(ctx.db, id)) {
        throw new ApiError('instrument_not_found', `path.id: ${notInRegistry(id)}`);
      }
      const store = ctx.exports?.series;
      if (!store) throw new ApiError('series_unavailable', 'no series store is running');
      let points: Awaited<ReturnType<typeof store.series>>;
      try {
        points = await store.series({ instrumentId: id, metric: q.metric, from, to, everyMs: q.every.ms });
      } catch (err) {
        if (err instanceof SeriesUnavailableError) throw new ApiError('series_unavailable', err.message);
        throw err;
      }
      const tz = ctx.config.timezone;
      return {
        id,
        metric: q.metric,
        from: isoWithOffset(from, tz),
        to: isoWithOffset(to, tz),
        every: q.every.text,
        source: store.kind,
        points: points.map((p) => ({ ...p, t: isoWithOffset(p.t, tz) })),
      };
    },
  );
}
