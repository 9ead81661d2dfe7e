import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { zodToOpenApi } from './zod.ts';

export const OPENAPI_INFO = {
  title: 'dayi collector API',
  version: '1.0.0',
  description:
    'Usage hours, idle lists and the instrument registry of shared large research instruments (大仪). ' +
    'Send `Authorization: Bearer <api key>`; `/healthz` and `/metrics` need no key. ' +
    'Errors are `{"error":{"code","message"}}` (see docs/api.md).',
};

/**
 * `/openapi.json` and the browsable `/docs`, generated from the routes' zod schemas.
 * Must be registered before the routes it documents (it collects them as they are added).
 */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API key from apiKeys, or one made with dayi apikey create',
          },
        },
      },
      tags: [
        { name: 'instruments', description: 'the registry and per-instrument figures' },
        { name: 'usage', description: 'usage hours and idle lists' },
        {
          name: 'alerts',
          description: 'offline, anomaly, idle and reported alerts; acknowledge and resolve',
        },
        {
          name: 'agents',
          description: "edge agents' MQTT credentials kept in the store (technicians of an org)",
        },
        { name: 'operations', description: 'health and metrics, no key needed' },
      ],
    },
    transform: zodToOpenApi,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
