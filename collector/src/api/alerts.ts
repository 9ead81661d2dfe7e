import { instrumentId, SEVERITIES } from '@dayi/protocols';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AlertService } from '../alerts/index.ts';
import { AlertCursorError, listAlerts } from '../alerts/query.ts';
import { ALERT_ID_PATTERN, type AlertRecord, AlertStateError } from '../alerts/store.ts';
import { ALERT_KINDS, ALERT_STATUSES } from '../alerts/types.ts';
import type { CollectorContext } from '../context.ts';
import { addDays, isDate, isoWithOffset, startOfDate } from '../derive/pure/calendar.ts';
import { ANOMALY_TYPES } from '../detect/types.ts';
import { notInRegistry } from '../query/errors.ts';
import { instrumentExists } from '../query/index.ts';
import { readRegistryRow } from '../query/registry.ts';
import type { Keyring } from './auth.ts';
import { ApiError } from './errors.ts';
import { errorResponse, orgParam } from './schemas.ts';
import { guard, principalOf } from './scope.ts';
import type { ZodTypeProvider } from './zod.ts';

/**
 * Alerts (issue 10): list, one with its history, acknowledge, resolve, and a user's report of a
 * runtime anomaly. Registered beside the other `/v1` routes with its own key check (same keyring,
 * same rule: every route names its permission), because acknowledging needs to know who.
 */

const MAX_NOTE = 2000;
const isoTime = z.string().describe('ISO 8601 time with offset, e.g. 2026-11-29T08:00:00.000+08:00');

/** `a,b,c` or repeated parameters: a list of allowed words. */
function wordList<T extends string>(values: readonly [T, ...T[]], what: string) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).filter((s) => s.length > 0))
    .superRefine((list, ctx) => {
      const bad = list.filter((s) => !(values as readonly string[]).includes(s));
      if (bad.length > 0)
        ctx.addIssue({
          code: 'custom',
          message: `${bad.map((b) => JSON.stringify(b)).join(', ')} not allowed: use ${values.join(', ')} (several comma-separated)`,
        });
    })
    .transform((list) => list as T[])
    .optional()
    .describe(what);
}

/** A date (its local midnight in the collector's zone) or an ISO 8601 time with offset. */
const instant = z
  .string()
  .refine(
    (s) => isDate(s) || (/T/.test(s) && /(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s))),
    {
      message: 'not a date or time: give YYYY-MM-DD or an ISO 8601 time with offset',
    },
  );

const ANOMALY_AND_KIND_TYPES = ['offline', 'idle', 'reported', ...ANOMALY_TYPES] as const;

export const alertListQuery = z.object({
  status: wordList(ALERT_STATUSES, 'open, acknowledged, resolved; several comma-separated'),
  kind: wordList(ALERT_KINDS, 'offline, anomaly, idle, reported; several comma-separated'),
  type: wordList(ANOMALY_AND_KIND_TYPES, 'the anomaly type (or the kind for the other kinds)'),
  org: orgParam,
  instrument: instrumentId.optional().describe('instrument id'),
  from: instant
    .optional()
    .describe('alerts active at or after this (a date: its start in the collector time zone)'),
  to: instant.optional().describe('alerts opened before this (a date: the end of that day)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('page size'),
  cursor: z.string().min(1).max(200).optional().describe('`next` of the previous page'),
});

const alertParams = z.object({
  id: z
    .string()
    .regex(ALERT_ID_PATTERN, 'not an alert id: give al- and 20 hex digits, as GET /v1/alerts lists them')
    .describe('alert id'),
});
const instrumentParams = z.object({ id: instrumentId.describe('instrument id') });

const noteBody = z
  .strictObject({ note: z.string().max(MAX_NOTE).optional().describe('what was done, or why') })
  .optional();

const reportBody = z.strictObject({
  text: z.string().trim().min(1, 'empty: say what was seen').max(MAX_NOTE).describe('what the user saw'),
  severity: z.enum(SEVERITIES).default('warning'),
});

const actor = z.object({ at: isoTime, by: z.string().nullable(), note: z.string().nullable() });

const alertItem = z.object({
  id: z.string(),
  instrumentId: z.string(),
  org: z.string().nullable(),
  kind: z.enum(ALERT_KINDS),
  type: z.string().describe('the anomaly type for kind anomaly; otherwise the kind'),
  severity: z.enum(SEVERITIES),
  status: z.enum(ALERT_STATUSES),
  openedAt: isoTime.describe('when the condition began (event time), or when a person reported it'),
  lastSeenAt: isoTime,
  count: z.number().int().describe('episodes (or reports) this alert gathered'),
  closedAt: isoTime.nullable().describe('when it was resolved (by a person, or when the condition cleared)'),
  detail: z.record(z.string(), z.unknown()).describe('what was seen; keys ending in At are times'),
  opened: z.object({ by: z.string().nullable(), note: z.string().nullable() }),
  acknowledged: actor.nullable(),
  resolved: actor.nullable(),
});

export const alertList = z
  .object({ items: z.array(alertItem), next: z.string().nullable().describe('cursor of the next page') })
  .describe('a page of alerts, newest first');

export const alertDetail = alertItem
  .extend({
    history: z.array(
      z.object({
        transition: z.enum(['opened', 'repeated', 'acknowledged', 'resolved', 'reopened']),
        status: z.enum(ALERT_STATUSES),
        at: isoTime,
        by: z.string().nullable(),
        note: z.string().nullable(),
      }),
    ),
  })
  .describe('an alert with every change it went through');

export interface AlertRoutesOptions {
  ctx: CollectorContext;
  keyring: Keyring;
  alerts: AlertService;
}

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };

export async function alertRoutes(root: FastifyInstance, { ctx, keyring, alerts }: AlertRoutesOptions) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  guard(app, keyring, ctx.db);
  const who = (request: FastifyRequest) => principalOf(request)?.name ?? 'unknown';
  // An alert belongs to the org it was opened under (the list filters on the same column).
  const alertScope = {
    orgOf: (request: FastifyRequest) => alerts.store.get((request.params as { id: string }).id)?.org,
    notFound: (request: FastifyRequest) =>
      new ApiError(
        'alert_not_found',
        `path.id: no alert ${JSON.stringify((request.params as { id: string }).id)}`,
      ),
  };
  const tz = ctx.config.timezone;
  const show = (a: AlertRecord) => formatAlert(a, tz);

  app.get(
    '/alerts',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Alerts, newest first, a page at a time',
        description:
          'Filters combine with AND; a list filter matches any of its words. `from`/`to` keep the alerts active in that period.',
        tags: ['alerts'],
        security,
        querystring: alertListQuery,
        response: { 200: alertList, 400: errorResponse, ...denied },
      },
    },
    async (request) => {
      const q = request.query;
      const from = q.from === undefined ? undefined : instantOf(q.from, 'start', tz);
      const to = q.to === undefined ? undefined : instantOf(q.to, 'end', tz);
      if (from !== undefined && q.to !== undefined && instantOf(q.to, 'start', tz) < from) {
        throw new ApiError(
          'invalid_query',
          `query.to: ${q.to} is before from ${q.from}: use a time on or after from`,
        );
      }
      try {
        const page = listAlerts(ctx.db, {
          limit: q.limit,
          ...(q.status ? { status: q.status } : {}),
          ...(q.kind ? { kind: q.kind } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(q.org !== undefined ? { org: q.org } : {}),
          ...(q.instrument !== undefined ? { instrument: q.instrument } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
        return { items: page.items.map(show), next: page.next };
      } catch (err) {
        if (err instanceof AlertCursorError) throw new ApiError('invalid_query', `query.${err.message}`);
        throw err;
      }
    },
  );

  app.get(
    '/alerts/:id',
    {
      config: { permission: 'read', orgScope: alertScope },
      schema: {
        summary: 'One alert, with its history (who did what, when, with which note)',
        tags: ['alerts'],
        security,
        params: alertParams,
        response: { 200: alertDetail, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request) => {
      const a = alerts.store.get(request.params.id);
      if (!a) throw new ApiError('alert_not_found', `path.id: no alert ${JSON.stringify(request.params.id)}`);
      return withHistory(a);
    },
  );

  const withHistory = (a: AlertRecord) => ({
    ...show(a),
    history: alerts.store.history(a.id).map((e) => ({
      transition: e.transition,
      status: e.status,
      at: isoWithOffset(e.at, tz),
      by: e.by,
      note: e.note,
    })),
  });

  for (const [action, summary] of [
    ['ack', 'Acknowledge an open alert (someone is on it)'],
    ['resolve', 'Resolve an alert, with a note of what was done'],
  ] as const) {
    app.post(
      `/alerts/:id/${action}`,
      {
        config: { permission: 'alerts:ack', orgScope: alertScope },
        schema: {
          summary,
          tags: ['alerts'],
          security,
          params: alertParams,
          body: noteBody,
          response: {
            200: alertDetail,
            400: errorResponse,
            404: errorResponse,
            409: errorResponse,
            ...denied,
          },
        },
      },
      async (request) => {
        const note = request.body?.note ?? null;
        try {
          const a =
            action === 'ack'
              ? alerts.store.acknowledge(request.params.id, who(request), note, ctx.now())
              : alerts.store.resolve(request.params.id, who(request), note, ctx.now());
          return withHistory(a);
        } catch (err) {
          if (err instanceof AlertStateError) throw new ApiError(err.code, err.message);
          throw err;
        }
      },
    );
  }

  app.post(
    '/instruments/:id/reports',
    {
      config: { permission: 'alerts:report', orgScope: 'instrument' },
      schema: {
        summary: 'Report a runtime anomaly seen by a user (an alert of kind reported)',
        description:
          'Opens a `reported` alert for the instrument, or adds the report to the one already open (count, lastSeenAt, the text in its history).',
        tags: ['alerts'],
        security,
        params: instrumentParams,
        body: reportBody,
        response: { 200: alertDetail, 201: alertDetail, 400: errorResponse, 404: errorResponse, ...denied },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!instrumentExists(ctx.db, id)) {
        throw new ApiError('instrument_not_found', `path.id: ${notInRegistry(id)}`);
      }
      const org = readRegistryRow(ctx.db, id)?.org ?? null;
      const { alert, created } = alerts.store.report(
        id,
        org,
        who(request),
        request.body.text,
        request.body.severity,
        ctx.now(),
      );
      return reply.status(created ? 201 : 200).send(withHistory(alert));
    },
  );
}

export function formatAlert(a: AlertRecord, tz: string) {
  const iso = (t: number) => isoWithOffset(t, tz);
  return {
    id: a.id,
    instrumentId: a.instrumentId,
    org: a.org,
    kind: a.kind,
    type: a.type,
    severity: a.severity,
    status: a.status,
    openedAt: iso(a.openedAt),
    lastSeenAt: iso(a.lastSeenAt),
    count: a.count,
    closedAt: a.closedAt === null ? null : iso(a.closedAt),
    detail: formatDetail(a.detail, tz),
    opened: a.opened,
    acknowledged: a.acknowledged ? { ...a.acknowledged, at: iso(a.acknowledged.at) } : null,
    resolved: a.resolved ? { ...a.resolved, at: iso(a.resolved.at) } : null,
  };
}

/** Times in detail are kept as ms under keys ending in `At`; answers show them as ISO 8601 like every time. */
function formatDetail(detail: Record<string, unknown>, tz: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) {
    if ((k === 'at' || k.endsWith('At')) && typeof v === 'number') out[k] = isoWithOffset(v, tz);
    else if (Array.isArray(v))
      out[k] = v.map((x) =>
        x && typeof x === 'object' && !Array.isArray(x) ? formatDetail(x as Record<string, unknown>, tz) : x,
      );
    else out[k] = v;
  }
  return out;
}

function instantOf(s: string, edge: 'start' | 'end', tz: string): number {
  if (isDate(s)) return startOfDate(edge === 'start' ? s : addDays(s, 1), tz);
  return Date.parse(s);
}
