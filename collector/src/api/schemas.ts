import { INSTRUMENT_ID_PATTERN, inputLinkSchema, instrumentId, STATES } from '@dayi/protocols';
import { z } from 'zod';
import { anomalySchema } from '../alerts/config.ts';
import { instrumentSchema, storedThresholdsSchema } from '../config.ts';
import { isDate } from '../derive/pure/calendar.ts';
import { MAX_PAGE_LIMIT, MAX_USAGE_DAYS } from '../query/index.ts';
import { ERROR_CODES } from './errors.ts';
import { influxHealthSchema } from './influx-health.ts';

/** Zod schemas of every v1 route: they validate requests and document answers in `/openapi.json`. */

/** The `org` filter of every list and aggregate (orgScope 'filtered'): pinned for an org-scoped key. */
export const orgParam = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe('only the instruments of this org (an org-scoped key: its own org, the default)');
const isoTime = z.string().describe('ISO 8601 time with offset, e.g. 2026-11-29T08:00:00.000+08:00');
const date = z
  .string({
    error: (iss) =>
      iss.input === undefined ? 'missing: give a date YYYY-MM-DD, e.g. 2026-11-01' : undefined,
  })
  .refine(isDate, {
    error: (iss) => `${JSON.stringify(iss.input)} is not a date: use YYYY-MM-DD, e.g. 2026-11-01`,
  })
  .describe('calendar date YYYY-MM-DD in the collector time zone');

/** A whole number in a query string, with one message whatever is wrong with it. */
const wholeNumber = (min: number, max: number) => {
  const error = (iss: { input?: unknown }) =>
    `${typeof iss.input === 'number' && Number.isFinite(iss.input) ? iss.input : 'the value'} is not a whole number from ${min} to ${max}: give one in that range`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const hours = z.number().describe('hours, rounded to 0.01');
const share = z.number().min(0).max(1).describe('share of the period with fresh evidence, 0..1');
const shareOrFuture = share
  .nullable()
  .describe(
    'share of the period with fresh evidence, 0..1; null for a day (or period) that has not begun yet',
  );

export const errorResponse = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
      message: z.string().describe('what was wrong, naming the field or parameter'),
    }),
  })
  .describe('error');

export const idParams = z.strictObject({
  id: instrumentId.describe('instrument id (the platform instrument code)'),
});

export const listQuery = z.strictObject({
  limit: wholeNumber(1, MAX_PAGE_LIMIT).default(100).describe('page size'),
  // A cursor is the last id of the page before (`next`): anything else cannot come from us.
  cursor: z
    .string()
    .regex(INSTRUMENT_ID_PATTERN, {
      error: (iss) =>
        `${JSON.stringify(iss.input)} is not a cursor: pass the \`next\` of the previous page, or leave cursor out for the first page`,
    })
    .optional()
    .describe('`next` of the previous page'),
  org: orgParam,
});

export const usageQuery = z
  .strictObject({ from: date, to: date.describe('last date included') })
  .superRefine((q, ctx) => {
    if (!isDate(q.from) || !isDate(q.to)) return;
    if (q.to < q.from)
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `${q.to} is before from ${q.from}: use a date on or after from`,
      });
    const days = (Date.parse(q.to) - Date.parse(q.from)) / 86_400_000 + 1;
    if (days > MAX_USAGE_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `the period spans ${days} days: ask for at most ${MAX_USAGE_DAYS} days at a time`,
      });
    }
  });

export const idleQuery = z.strictObject({
  days: wholeNumber(1, 3650)
    .optional()
    .describe("idle after this many days without power; default: each instrument's idleDays"),
  org: orgParam,
});

/** PUT body: an instrument of the registry; `id` may be left out (the path names it). */
export const instrumentBody = instrumentSchema.partial({ id: true });

const derivedState = z.enum([...STATES, 'unknown']);

export const instrumentSummary = z.object({
  id: z.string(),
  name: z.string().nullable(),
  org: z.string().nullable(),
  category: z.string().nullable(),
  state: derivedState.describe('current state; unknown when the evidence is older than offlineAfter'),
  stateSince: isoTime.nullable(),
  online: z
    .boolean()
    .describe(
      'the agent is connected (its last status did not say offline, and not all of its inputs are disconnected) and the newest evidence, by event time and by arrival, is younger than offlineAfter',
    ),
  lastSeen: isoTime.nullable(),
  lastPoweredAt: isoTime.nullable(),
  lastRunningAt: isoTime.nullable(),
});

export const instrumentDetail = instrumentSummary
  .extend({
    quotaHours: z
      .number()
      .nullable()
      .describe('null for an instrument that reports but was never registered'),
    idleDays: z.number().int().describe('the idle threshold that applies: its own, else the configuration'),
    thresholds: storedThresholdsSchema.nullable(),
    anomaly: anomalySchema
      .nullable()
      .describe("the instrument's own anomaly settings, null when it has none"),
    agent: z
      .object({ id: z.string(), version: z.string().nullable(), inputs: z.array(inputLinkSchema) })
      .nullable()
      .describe('the agent that last reported its status, with the link state of its inputs'),
  })
  .describe('instrument');

export const instrumentList = z
  .object({
    items: z.array(instrumentSummary),
    next: z.string().nullable().describe('cursor of the next page, null on the last page'),
  })
  .describe('a page of instruments');

const usageFigures = z.object({ poweredHours: hours, runningHours: hours, coverage: shareOrFuture });

export const usageResponse = z
  .object({
    id: z.string(),
    from: z.string(),
    to: z.string(),
    ...usageFigures.shape,
    days: z.array(z.object({ date: z.string(), ...usageFigures.shape })),
  })
  .describe('usage hours per calendar day');

export const IDLE_REASONS = ['silent', 'not_powered', 'no_state'] as const;

export const idleResponse = z
  .object({
    items: z.array(
      z.object({
        id: z.string(),
        org: z.string().nullable(),
        name: z.string().nullable(),
        lastPoweredAt: isoTime.nullable(),
        idleDays: z.number().int().describe('whole days since last powered (or since the first message)'),
        lastSeen: isoTime.describe('event time of the newest message from the instrument'),
        reason: z
          .enum(IDLE_REASONS)
          .describe(
            'why it is listed: silent (nothing heard since lastSeen: switched off or disconnected, unknown which), ' +
              'not_powered (it reports, and what it reports is off), no_state (it reports, but nothing it sends gives a state: ' +
              'telemetry without state and no thresholds in the registry)',
          ),
        window: z
          .object({ from: z.string(), to: z.string() })
          .describe(
            'the idle window: the last `days` days, as dates in the collector time zone, today included',
          ),
        coverage: share.describe('share of the idle window with fresh evidence of the state, 0..1'),
      }),
    ),
    neverReported: z.array(
      z.object({
        id: z.string(),
        org: z.string().nullable(),
        name: z.string().nullable(),
        reason: z.literal('never_seen').describe('registered, but no message was ever accepted'),
      }),
    ),
  })
  .describe('idle instruments, and registered ones that never reported');

export const healthResponse = z
  .object({
    status: z.enum(['ok', 'error']),
    mqtt: z.object({ port: z.number().int() }),
    store: z.enum(['ok', 'error']),
    storeError: z
      .object({ reason: z.string(), since: z.string(), refused: z.number().int() })
      .optional()
      .describe(
        'why the store refuses writes (disk full, I/O error): messages are not acknowledged meanwhile',
      ),
    influx: influxHealthSchema.optional(),
  })
  .describe('liveness of the collector');
