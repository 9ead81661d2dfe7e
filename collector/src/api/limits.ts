/**
 * Rate limits (@fastify/rate-limit) and CORS (@fastify/cors) of the API, from `http.rateLimit` and
 * `http.cors` (config-security.ts). Counted per API key when the request carries a valid one, else
 * per client address; a refusal is `429 rate_limited` in the house error format, with Retry-After.
 */
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CollectorConfig } from '../config.ts';
import type { Keyring } from './auth.ts';
import { ApiError } from './errors.ts';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export async function registerLimits(
  app: FastifyInstance,
  config: CollectorConfig,
  keyring: Keyring,
): Promise<void> {
  const { cors: c, rateLimit: r } = config.http;
  if (c.origins.length > 0) {
    await app.register(cors, {
      origin: c.origins.includes('*') ? '*' : c.origins,
      credentials: c.credentials,
      maxAge: c.maxAge,
      methods: ['GET', 'PUT', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      exposedHeaders: [
        'Retry-After',
        'Content-Disposition',
        'X-Dayi-Signature',
        'X-Dayi-Signature-Key',
        'X-Dayi-Report-Id',
        'X-Dayi-Report-Sha256',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
      ],
    });
  }
  if (!r.enabled) return;
  // who a request counts against: resolved once per request, by the rate limiter's key function
  const principal = new WeakMap<FastifyRequest, string | null>();
  const keyName = (request: FastifyRequest) => {
    if (!principal.has(request)) {
      const m = BEARER.exec(request.headers.authorization ?? '');
      principal.set(request, m ? (keyring.identify(m[1]!)?.name ?? null) : null);
    }
    return principal.get(request)!;
  };
  await app.register(rateLimit, {
    // Not per route: the routes' own onRequest hooks (the key check) would run first, and requests
    // with a wrong key, refused there, would never be counted. A hook of this context runs first.
    global: false,
    timeWindow: r.window,
    max: (request) => (keyName(request) === null ? r.perAddress : r.perKey),
    keyGenerator: (request) => {
      const name = keyName(request);
      return name === null ? `address:${request.ip}` : `key:${name}`;
    },
    // Probes, scrapes and the docs are not the API: a Prometheus scrape never waits on a busy key.
    allowList: (request) => !request.url.startsWith('/v1/') && request.url !== '/v1',
    errorResponseBuilder: (request, context) => {
      const who = keyName(request) === null ? `address ${request.ip}` : `API key ${keyName(request)}`;
      return new ApiError(
        'rate_limited',
        `request: more than ${context.max} requests from ${who} within ${context.after}: retry after ${Math.ceil(context.ttl / 1000)} s (http.rateLimit)`,
      );
    },
  });
  app.addHook('onRequest', app.rateLimit());
}
