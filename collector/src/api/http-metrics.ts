import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../metrics.ts';

/**
 * HTTP request counters and durations by route pattern (not raw URL, so ids do not explode the
 * label set). Wrapped with fastify-plugin because its hooks must see every route, 404s included.
 */
async function httpMetrics(app: FastifyInstance, { metrics }: { metrics: Metrics }): Promise<void> {
  const requests = new Counter({
    name: 'dayi_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'dayi_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}

export default fp(httpMetrics, { name: 'dayi-http-metrics', fastify: '5.x' });
