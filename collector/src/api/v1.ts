import type { FastifyInstance } from 'fastify';
import type { CollectorContext } from '../context.ts';
import { notInRegistry } from '../query/errors.ts';
import { getIdle, getInstrument, getUsage, listInstruments, upsertInstrument } from '../query/index.ts';
import { agentRoutes } from './agents.ts';
import type { Keyring } from './auth.ts';
import { bookingRoutes } from './bookings.ts';
import { ApiError } from './errors.ts';
import { importRoutes } from './import.ts';
import { notificationRoutes } from './notifications.ts';
import { reportRoutes } from './reports.ts';
import {
  errorResponse,
  idleQuery,
  idleResponse,
  idParams,
  instrumentBody,
  instrumentDetail,
  instrumentList,
  listQuery,
  usageQuery,
  usageResponse,
} from './schemas.ts';
import { callerOrg, guard } from './scope.ts';
import { seriesRoutes } from './series.ts';
import { utilizationRoutes } from './utilization.ts';
import type { ZodTypeProvider } from './zod.ts';

export interface V1Options {
  ctx: CollectorContext;
  keyring: Keyring;
  registryChanged: (instrumentId: string) => void;
}

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };

/** `/v1`: every route names the permission it needs; the key is checked before anything is parsed. */
export async function v1Routes(
  root: FastifyInstance,
  { ctx, keyring, registryChanged }: V1Options,
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  guard(app, keyring, ctx.db);
  await app.register(reportRoutes, { ctx, keyring });

  await app.register(seriesRoutes, { ctx });
  await app.register(bookingRoutes, { ctx });
  await app.register(utilizationRoutes, { ctx });
  await app.register(notificationRoutes, { ctx });
  await app.register(importRoutes, { ctx, registryChanged });
  await app.register(agentRoutes, { ctx });

  app.get(
    '/instruments',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'List instruments with their current state, a page at a time',
        tags: ['instruments'],
        security,
        querystring: listQuery,
        response: { 200: instrumentList, 400: errorResponse, ...denied },
      },
    },
    async (request) => {
      return listInstruments(ctx, request.query);
    },
  );

  app.get(
    '/instruments/:id',
    {
      config: { permission: 'read', orgScope: 'instrument' },
      schema: {
        summary: 'One instrument, with its thresholds and agent',
        tags: ['instruments'],
        security,
        params: idParams,
        response: { 200: instrumentDetail, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => {
      const { id } = request.params;
      return mustExist(id, getInstrument(ctx, id));
    },
  );

  app.put(
    '/instruments/:id',
    {
      config: { permission: 'registry:write', orgScope: 'instrument' },
      schema: {
        summary: 'Create or replace one instrument of the registry',
        description:
          'The id in the path names the instrument; an `id` in the body, if any, must be the same. ' +
          "An org-scoped key writes only its org's instruments: `org` left out is its org, another org is 403.",
        tags: ['instruments'],
        security,
        params: idParams,
        body: instrumentBody,
        response: {
          200: instrumentDetail,
          201: instrumentDetail,
          400: errorResponse,
          404: errorResponse,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      if (body.id !== undefined && body.id !== id) {
        throw new ApiError(
          'id_mismatch',
          `body.id: ${JSON.stringify(body.id)} is not the path id ${JSON.stringify(id)}: leave id out of the body, or make it the path's`,
        );
      }
      const org = callerOrg(request);
      if (org !== null && body.org !== undefined && body.org !== org) {
        throw new ApiError(
          'forbidden',
          `body.org: this API key is scoped to org ${JSON.stringify(org)} and may not put an instrument into ${JSON.stringify(body.org)}`,
        );
      }
      const { created } = upsertInstrument(ctx, { ...body, id, ...(org !== null ? { org } : {}) });
      registryChanged(id);
      return reply.status(created ? 201 : 200).send(mustExist(id, getInstrument(ctx, id)));
    },
  );

  app.get(
    '/instruments/:id/usage',
    {
      config: { permission: 'read', orgScope: 'instrument' },
      schema: {
        summary: 'Powered and running hours per calendar day, with coverage',
        description: '`from` and `to` are dates in the collector time zone, both included.',
        tags: ['usage'],
        security,
        params: idParams,
        querystring: usageQuery,
        response: { 200: usageResponse, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { from, to } = request.query;
      return getUsage(ctx, id, from, to);
    },
  );

  app.get(
    '/idle',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Instruments not powered for `days` days, and those that never reported',
        tags: ['usage'],
        security,
        querystring: idleQuery,
        response: { 200: idleResponse, 400: errorResponse, ...denied },
      },
    },
    async (request) => getIdle(ctx, request.query),
  );
}

function mustExist<T>(id: string, value: T | null | undefined): T {
  if (value === null || value === undefined) {
    throw new ApiError('instrument_not_found', `path.id: ${notInRegistry(id)}`);
  }
  return value;
}
