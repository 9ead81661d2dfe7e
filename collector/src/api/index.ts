import type { FastifyInstance } from 'fastify';
import type { AlertService } from '../alerts/index.ts';
import type { CollectorContext } from '../context.ts';
import { alertRoutes } from './alerts.ts';
import { createKeyring, type Permission } from './auth.ts';
import { registerDocs } from './docs.ts';
import { healthRoutes } from './health.ts';
import { registerLimits } from './limits.ts';
import type { OrgScope } from './scope.ts';
import { v1Routes } from './v1.ts';
import { webRoutes } from './web.ts';
import { jsonSerializerCompiler, zodValidatorCompiler } from './zod.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a `/v1` route needs from the caller's role; every `/v1` route names one. */
    permission?: Permission;
    /** How the route is confined to an org-scoped caller's org (api/scope.ts); every `/v1` route declares one. */
    orgScope?: OrgScope;
  }
}

export interface ApiOptions {
  ctx: CollectorContext;
  /** The MQTT port actually listened on (the config may say 0). */
  mqttPort: () => number;
  /** Told after the API changed the registry (ingest caches thresholds). */
  registryChanged: (instrumentId: string) => void;
  alerts: AlertService;
  /** The web dashboard's built files (default collector/web/dist). */
  webDist?: string;
}

/** The REST API as one encapsulated plugin: docs first (they collect routes), then the routes. */
export async function api(
  app: FastifyInstance,
  { ctx, mqttPort, registryChanged, alerts, webDist }: ApiOptions,
): Promise<void> {
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  await registerDocs(app);
  await app.register(healthRoutes, { ctx, mqttPort });
  const keyring = createKeyring(ctx.config.apiKeys, ctx.db);
  await registerLimits(app, ctx.config, keyring);
  await app.register(v1Routes, { prefix: '/v1', ctx, keyring, registryChanged });
  await app.register(alertRoutes, { prefix: '/v1', ctx, keyring, alerts });
  await app.register(webRoutes, webDist ? { dist: webDist } : {});
}
