import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { isoWithOffset } from '../derive/pure/calendar.ts';
import {
  DELIVERY_STATUSES,
  type DeliveryRow,
  getDelivery,
  listDeliveries,
  requeue,
} from '../notify/io/queue.ts';
import type { NotifyEvent } from '../notify/pure/events.ts';
import { render } from '../notify/pure/message.ts';
import { ApiError } from './errors.ts';
import { errorResponse, orgParam } from './schemas.ts';
import type { ZodTypeProvider } from './zod.ts';

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const isoTime = z.string().describe('ISO 8601 time with offset');

const delivery = z
  .object({
    id: z.number().int(),
    channel: z.string(),
    event: z.string().describe('alert.opened, alert.resolved, …, digest.idle'),
    title: z.string().describe('the message title, in the channel locale'),
    alertId: z.string().nullable(),
    instrumentId: z.string().nullable(),
    org: z.string().nullable(),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    idempotencyKey: z.string().describe('sent as Idempotency-Key (webhook) or in the Message-ID (e-mail)'),
    createdAt: isoTime,
    lastAttemptAt: isoTime.nullable(),
    nextAttemptAt: isoTime.nullable().describe('when pending: the next try'),
    doneAt: isoTime.nullable().describe('when delivered or dead-lettered'),
    lastError: z.string().nullable().describe('why the last try failed (URLs without their credentials)'),
  })
  .describe('one notification on one channel');

const page = z.object({
  items: z.array(delivery),
  next: z.string().nullable().describe('cursor of the next page, null on the last page'),
});

const pageQuery = {
  org: orgParam,
  channel: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('page size'),
  cursor: z.coerce.number().int().min(1).optional().describe('`next` of the previous page'),
};

/** GET /v1/notifications, GET /v1/notifications/dead-letters, POST …/dead-letters/{id}/retry. */
export async function notificationRoutes(
  root: FastifyInstance,
  { ctx }: { ctx: CollectorContext },
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tz = ctx.config.timezone;
  const notify = ctx.config.notify;
  const iso = (ts: number | null) => (ts === null ? null : isoWithOffset(ts, tz));
  const json = (r: DeliveryRow) => {
    const channel = notify.channels.find((c) => c.name === r.channel);
    let title = r.event;
    try {
      title = render(JSON.parse(r.payload) as NotifyEvent, {
        locale: channel?.locale ?? notify.locale,
        timezone: tz,
        instrumentUrl: notify.instrumentUrl,
      }).title;
    } catch {
      // A payload that does not render still lists with its event name.
    }
    return {
      id: r.id,
      channel: r.channel,
      event: r.event,
      title,
      alertId: r.alert_id,
      instrumentId: r.instrument_id,
      org: r.org,
      status: r.status,
      attempts: r.attempts,
      idempotencyKey: r.idempotency_key,
      createdAt: iso(r.created_at)!,
      lastAttemptAt: iso(r.last_attempt_at),
      nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
      doneAt: iso(r.done_at),
      lastError: r.last_error,
    };
  };
  const pageOf = (rows: DeliveryRow[], limit: number) => ({
    items: rows.slice(0, limit).map(json),
    next: rows.length > limit ? String(rows[limit - 1]!.id) : null,
  });

  app.get(
    '/notifications',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Notification deliveries, newest first',
        tags: ['notifications'],
        security,
        querystring: z.object({ status: z.enum(DELIVERY_STATUSES).optional(), ...pageQuery }),
        response: { 200: page, 400: errorResponse, ...denied },
      },
    },
    async (request) => {
      const { status, channel, limit, cursor, org } = request.query;
      return pageOf(listDeliveries(ctx.db, { status, channel, org, limit: limit + 1, cursor }), limit);
    },
  );

  app.get(
    '/notifications/dead-letters',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Dead letters: deliveries given up after the last try (or refused for good)',
        tags: ['notifications'],
        security,
        querystring: z.object(pageQuery),
        response: { 200: page, 400: errorResponse, ...denied },
      },
    },
    async (request) => {
      const { channel, limit, cursor, org } = request.query;
      return pageOf(
        listDeliveries(ctx.db, { status: 'dead', channel, org, limit: limit + 1, cursor }),
        limit,
      );
    },
  );

  app.post(
    '/notifications/dead-letters/:deliveryId/retry',
    {
      config: {
        permission: 'notifications:manage',
        // a delivery is its org's (the instrument's org when it was queued); digests of no org: unscoped keys
        orgScope: {
          orgOf: (request: FastifyRequest) => {
            const id = Number((request.params as { deliveryId: number }).deliveryId);
            const row = getDelivery(ctx.db, id);
            return row ? row.org : undefined;
          },
          notFound: (request: FastifyRequest) =>
            new ApiError(
              'delivery_not_found',
              `path.deliveryId: no dead letter ${(request.params as { deliveryId: number }).deliveryId}`,
            ),
        },
      },
      schema: {
        summary: 'Queue a dead letter again (after fixing the receiver), with its attempts counted afresh',
        tags: ['notifications'],
        security,
        params: z.object({ deliveryId: z.coerce.number().int().min(1) }),
        response: { 200: delivery, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => {
      const id = request.params.deliveryId;
      if (!requeue(ctx.db, id, ctx.now())) {
        throw new ApiError('delivery_not_found', `path.deliveryId: no dead letter ${id}`);
      }
      request.server.dayi?.notifier.dispatcher.wake();
      return json(getDelivery(ctx.db, id)!);
    },
  );
}
