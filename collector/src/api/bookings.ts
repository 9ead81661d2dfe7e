import { instrumentId } from '@dayi/protocols';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import {
  bookingJson,
  bookingSchema,
  bookingsOverlapping,
  deleteBooking,
  getBooking,
  MAX_BOOKINGS_PER_BATCH,
  upsertBookings,
} from '../query/bookings.ts';
import { notInRegistry } from '../query/errors.ts';
import { periodOf } from '../query/period.ts';
import { getOrgReconciliation, getReconciliation } from '../query/reconciliation.ts';
import { instrumentExists } from '../query/registry.ts';
import { ApiError } from './errors.ts';
import { errorResponse, idParams, orgParam, usageQuery } from './schemas.ts';
import { callerOrg, instrumentVisible } from './scope.ts';
import type { ZodTypeProvider } from './zod.ts';

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const hours = z.number().describe('hours, rounded to 0.01');
const isoTime = z.string().describe('ISO 8601 time with offset');

/**
 * The body is checked row by row in the handler (valid rows land, invalid ones are named), so the
 * route schema accepts any array; the row schema is documented through `meta`.
 */
const bookingsBody = z
  .array(z.unknown())
  .max(MAX_BOOKINGS_PER_BATCH)
  .meta({ items: z.toJSONSchema(bookingSchema, { io: 'input' }) })
  .describe(`a batch of up to ${MAX_BOOKINGS_PER_BATCH} bookings, upserted by id`);

const bookingsResult = z
  .object({
    upserted: z.number().int().describe('rows written (created + updated)'),
    created: z.number().int(),
    updated: z.number().int(),
    rejected: z.number().int().describe('rows refused; nothing of them was written'),
    errors: z.array(
      z.object({
        index: z.number().int().describe('position of the row in the batch, from 0'),
        id: z.string().nullable(),
        field: z.string().describe('the field at fault, `(row)` for the row as a whole'),
        message: z.string(),
      }),
    ),
  })
  .describe('what landed, and each refused row with its index and field');

const booking = z.object({
  id: z.string(),
  instrumentId: z.string(),
  start: isoTime,
  end: isoTime,
  user: z.string().nullable(),
  org: z.string().nullable(),
  external: z.boolean(),
  updatedAt: isoTime,
});

const bookingsQuery = usageQuery.safeExtend({ instrumentId });

const figures = {
  bookedHours: hours.describe('hours booked in the period (overlapping bookings count once)'),
  runningHours: hours.describe('running hours in the period, as /usage answers them'),
  bookedRunningHours: hours.describe('running hours inside bookings'),
  unbookedRunningHours: hours.describe('running hours outside every booking (unbooked use)'),
  externalServiceHours: hours.describe('running hours inside external bookings (对外服务机时)'),
  bookings: z.number().int().describe('bookings starting in the period'),
  noShows: z
    .number()
    .int()
    .describe('bookings starting in the period, ended, with under 10 % of their time running'),
  bookedCoverage: z.number().describe('share of the booked time so far with fresh evidence, 0..1'),
};

const instrumentReconciliation = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    org: z.string().nullable(),
    from: z.string(),
    to: z.string(),
    ...figures,
    items: z.array(
      z.object({
        id: z.string(),
        start: isoTime,
        end: isoTime,
        user: z.string().nullable(),
        org: z.string().nullable(),
        external: z.boolean(),
        bookedHours: hours,
        runningHours: hours.describe('running hours inside the whole booking'),
        coverage: z.number(),
        noShow: z.boolean().nullable().describe('null while the booking has not ended'),
      }),
    ),
  })
  .describe('booked against actual hours of one instrument');

const orgReconciliation = z
  .object({
    from: z.string(),
    to: z.string(),
    groups: z.array(
      z.object({
        org: z.string().nullable(),
        instruments: z.number().int(),
        ...figures,
        items: z.array(z.object({ id: z.string(), name: z.string().nullable(), ...figures })),
      }),
    ),
  })
  .describe('booked against actual hours per org of the registry');

/** PUT /v1/bookings, GET/DELETE bookings, and booked-versus-actual reconciliation. */
export async function bookingRoutes(
  root: FastifyInstance,
  { ctx }: { ctx: CollectorContext },
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.put(
    '/bookings',
    {
      config: { permission: 'bookings:write', orgScope: 'rows' },
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        summary: 'Upsert a batch of bookings by id',
        description:
          'Each row is checked on its own: valid rows land (created or replaced), invalid ones are listed in `errors` with their index and field, and nothing of them is written. The answer is 200 whenever the body is an array: check `errors`.',
        tags: ['bookings'],
        security,
        body: bookingsBody,
        response: { 200: bookingsResult, 400: errorResponse, 413: errorResponse, ...denied },
      },
    },
    async (request) => {
      const org = callerOrg(request);
      return upsertBookings(
        ctx,
        request.body,
        org === null ? undefined : (id) => instrumentVisible(ctx.db, org, id),
      );
    },
  );

  app.get(
    '/bookings',
    {
      config: {
        permission: 'read',
        orgScope: {
          instrumentOf: (request: FastifyRequest) => (request.query as { instrumentId: string }).instrumentId,
          notFound: (request: FastifyRequest) => {
            const id = (request.query as { instrumentId: string }).instrumentId;
            return new ApiError(
              'instrument_not_found',
              `query.instrumentId: no instrument ${JSON.stringify(id)}`,
            );
          },
        },
      },
      schema: {
        summary: "One instrument's bookings overlapping a period",
        tags: ['bookings'],
        security,
        querystring: bookingsQuery,
        response: {
          200: z.object({ items: z.array(booking) }),
          400: errorResponse,
          404: errorResponse,
          ...denied,
        },
      },
    },
    async (request) => {
      const { instrumentId: id, from, to } = request.query;
      const period = periodOf(ctx, from, to);
      if (!instrumentExists(ctx.db, id)) {
        throw new ApiError('instrument_not_found', `query.instrumentId: ${notInRegistry(id)}`);
      }
      return {
        items: bookingsOverlapping(ctx, id, period.start, period.end).map((b) => bookingJson(ctx, b)),
      };
    },
  );

  app.delete(
    '/bookings/:bookingId',
    {
      config: {
        permission: 'bookings:write',
        orgScope: {
          instrumentOf: (request: FastifyRequest) =>
            getBooking(ctx, (request.params as { bookingId: string }).bookingId)?.instrumentId,
          notFound: (request: FastifyRequest) => {
            const id = (request.params as { bookingId: string }).bookingId;
            return new ApiError('booking_not_found', `path.bookingId: no booking ${JSON.stringify(id)}`);
          },
        },
      },
      schema: {
        summary: 'Remove a booking (cancelled on the platform)',
        tags: ['bookings'],
        security,
        params: z.object({ bookingId: z.string().min(1).max(128) }),
        response: { 204: z.null(), 404: errorResponse, ...denied },
      },
    },
    async (request, reply) => {
      if (!deleteBooking(ctx, request.params.bookingId)) {
        throw new ApiError(
          'booking_not_found',
          `path.bookingId: no booking ${JSON.stringify(request.params.bookingId)}: check the id with GET /v1/bookings`,
        );
      }
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/instruments/:id/reconciliation',
    {
      config: { permission: 'read', orgScope: 'instrument' },
      schema: {
        summary: 'Booked against actual hours of one instrument',
        description:
          '`from` and `to` are dates in the collector time zone, both included. Running time comes from the derived state segments by event time.',
        tags: ['bookings'],
        security,
        params: idParams,
        querystring: usageQuery,
        response: { 200: instrumentReconciliation, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => getReconciliation(ctx, request.params.id, request.query.from, request.query.to),
  );

  app.get(
    '/reconciliation',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Booked against actual hours per org (of the instruments)',
        tags: ['bookings'],
        security,
        querystring: usageQuery.safeExtend({
          org: orgParam,
        }),
        response: { 200: orgReconciliation, 400: errorResponse, ...denied },
      },
    },
    async (request) => {
      const { from, to, org } = request.query;
      return getOrgReconciliation(ctx, from, to, org);
    },
  );
}
