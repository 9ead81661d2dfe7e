import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CollectorContext } from '../context.ts';
import { isDate } from '../derive/pure/calendar.ts';
import {
  GROUP_BY,
  getIdleTrend,
  getPurchaseReview,
  getUtilization,
  MAX_TREND_DAYS,
} from '../query/utilization.ts';
import { errorResponse, orgParam, usageQuery } from './schemas.ts';
import type { ZodTypeProvider } from './zod.ts';

const security = [{ apiKey: [] }];
const denied = { 401: errorResponse, 403: errorResponse };
const hours = z.number().describe('hours, rounded to 0.01');
const date = z
  .string()
  .refine(isDate, 'must be a date YYYY-MM-DD')
  .describe('calendar date YYYY-MM-DD in the collector time zone');

const figures = {
  instruments: z.number().int(),
  poweredHours: hours,
  runningHours: hours.describe('effective working hours (有效工作机时)'),
  quotaHours: hours.describe('quota hours (定额机时) prorated to the elapsed part of the period'),
  utilisation: z
    .number()
    .nullable()
    .describe('runningHours / quotaHours (使用率), 4 decimals; null without quota'),
  idle: z.number().int().describe('instruments idle now, as GET /v1/idle counts them'),
  neverReported: z.number().int().describe('registered instruments that never sent anything'),
  coverage: z.number().describe('share of instrument-time with fresh evidence, 0..1'),
};

const utilizationResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    groupBy: z.enum(GROUP_BY),
    total: z.object(figures),
    items: z.array(
      z.object({
        group: z.string().nullable().describe('the org, category or instrument id; null for none'),
        instrument: z
          .object({
            id: z.string(),
            name: z.string().nullable(),
            org: z.string().nullable(),
            category: z.string().nullable(),
          })
          .optional()
          .describe('with groupBy=instrument'),
        ...figures,
      }),
    ),
  })
  .describe('utilisation per group');

const filterFields = {
  org: orgParam,
  category: z.string().min(1).max(100).optional().describe('only instruments of this category'),
};

const purchaseReviewResponse = z
  .object({
    category: z.string(),
    from: z.string(),
    to: z.string(),
    barHours: z.number().describe('1200: at or above it a unit counts as fully used'),
    summary: z.object({
      instruments: z.number().int(),
      measured: z.number().int().describe('instruments that reported during the period'),
      full: z.number().int(),
      belowBar: z.number().int(),
      meanAnnualisedHours: z.number().nullable(),
      allFull: z.boolean().describe('every measured unit is at or above the bar'),
    }),
    items: z.array(
      z.object({
        id: z.string(),
        name: z.string().nullable(),
        org: z.string().nullable(),
        runningHours: hours,
        coverage: z.number(),
        observedDays: z.number().describe('days of the period since its first message'),
        annualisedHours: z.number().nullable().describe('running hours scaled to 365 days'),
        full: z.boolean(),
      }),
    ),
  })
  .describe('purchase review (购置查重评议) of one category');

const trendResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    days: z.number().int(),
    groupBy: z.enum(['org', 'category']).nullable(),
    weeks: z.array(
      z.object({
        week: z.string().describe('ISO week, e.g. 2026-W48'),
        start: z.string().describe('its Monday'),
        end: z.string().describe('its Sunday'),
        windowStart: z.string().describe('first of the `days` days ending that Sunday'),
        idle: z.number().int(),
        reporting: z.number().int().describe('instruments that had reported by the Sunday'),
        groups: z.array(
          z.object({ group: z.string().nullable(), idle: z.number().int(), reporting: z.number().int() }),
        ),
      }),
    ),
  })
  .describe('weekly counts of instruments not powered for `days` days');

/** GET /v1/utilization, /v1/purchase-review, /v1/kpi/idle-trend. */
export async function utilizationRoutes(
  root: FastifyInstance,
  { ctx }: { ctx: CollectorContext },
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/utilization',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Powered and running hours against quota hours, per org, category or instrument',
        description:
          'Hours are exactly those of /v1/instruments/{id}/usage for the same period, summed per group from exact milliseconds.',
        tags: ['usage'],
        security,
        querystring: usageQuery.safeExtend({
          groupBy: z.enum(GROUP_BY).default('org'),
          ...filterFields,
        }),
        response: { 200: utilizationResponse, 400: errorResponse, ...denied },
      },
    },
    async (request) => getUtilization(ctx, request.query),
  );

  app.get(
    '/purchase-review',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Every instrument of a category, annualised effective hours against 1,200 h a year',
        description: 'Default period: the 365 days ending yesterday.',
        tags: ['usage'],
        security,
        querystring: z
          .object({
            category: z.string().min(1).max(100),
            org: orgParam,
            from: date.optional(),
            to: date.optional(),
          })
          .refine((q) => q.from === undefined || q.to !== undefined, {
            path: ['to'],
            message: 'is required when from is given',
          }),
        response: { 200: purchaseReviewResponse, 400: errorResponse, ...denied },
      },
    },
    async (request) => getPurchaseReview(ctx, request.query),
  );

  app.get(
    '/kpi/idle-trend',
    {
      config: { permission: 'read', orgScope: 'filtered' },
      schema: {
        summary: 'Weekly counts of instruments not powered for `days` (default idleDays, 90) days',
        description:
          'One row per week (Monday to Sunday) whose Sunday lies in [from, to] and is final. Computed by event time from the derived daily figures, so a past week is answered as it was then.',
        tags: ['usage'],
        security,
        querystring: z
          .object({
            from: date,
            to: date,
            groupBy: z.enum(['org', 'category']).optional(),
            org: orgParam,
            days: z.coerce.number().int().min(1).max(3650).optional(),
          })
          .superRefine((q, c) => {
            if (!isDate(q.from) || !isDate(q.to)) return;
            if (q.to < q.from)
              c.addIssue({
                code: 'custom',
                path: ['to'],
                message: `${q.to} is before from ${q.from}: use a date on or after from`,
              });
            if ((Date.parse(q.to) - Date.parse(q.from)) / 86_400_000 + 1 > MAX_TREND_DAYS) {
              c.addIssue({
                code: 'custom',
                path: ['to'],
                message: `more than ${MAX_TREND_DAYS} days from from: ask for a shorter period`,
              });
            }
          }),
        response: { 200: trendResponse, 400: errorResponse, ...denied },
      },
    },
    async (request) => getIdleTrend(ctx, request.query),
  );
}
