import type { FastifyInstance } from 'fastify';
import type { CollectorContext } from '../context.ts';
import { errorResponse, healthResponse } from './schemas.ts';

export interface HealthOptions {
  ctx: CollectorContext;
  /** The MQTT port actually listened on (config may say 0). */
  mqttPort: () => number;
}

/** `/healthz` and `/metrics`: no API key, so load balancers and Prometheus can reach them. */
export async function healthRoutes(app: FastifyInstance, { ctx, mqttPort }: HealthOptions): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the store answers and the MQTT broker listens',
        tags: ['operations'],
        response: { 200: healthResponse, 503: healthResponse, 500: errorResponse },
      },
    },
    async (request, reply) => {
      let store: 'ok' | 'error' = 'ok';
      try {
        ctx.db.prepare('SELECT 1').get();
      } catch (err) {
        request.log.error({ err }, 'store health check failed');
        store = 'error';
      }
      // `SELECT 1` still answers when the disk is full: what ingest last met tells the truth.
      const failure = ctx.storeFailure;
      if (failure) store = 'error';
      const storeError = failure
        ? { reason: failure.reason, since: new Date(failure.since).toISOString(), refused: failure.refused }
        : undefined;
      const influx = ctx.exports?.influx?.health();
      const body = {
        status: store,
        mqtt: { port: mqttPort() },
        store,
        ...(storeError ? { storeError } : {}),
        ...(influx ? { influx } : {}),
      };
      return reply.status(store === 'ok' ? 200 : 503).send(body);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['operations'],
      },
    },
    async (_request, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );
}
