import { duration } from '@dayi/protocols';
import { z } from 'zod';
import { parseServiceHours } from '../detect/service-hours.ts';
import { ANOMALY_TYPES, BAND_STATES } from '../detect/types.ts';

/**
 * Configuration of the detectors and alerts: the `anomaly:` block (per instrument in the registry,
 * and fleet-wide as `alerts.anomaly`) and the collector's `alerts:` section.
 */

const band = z
  .tuple([z.number().min(0), z.number().min(0)])
  .refine(([lo, hi]) => lo < hi, 'must be [low, high] with low < high');

export const anomalySchema = z
  .strictObject({
    powerBand: z
      .strictObject(
        Object.fromEntries(BAND_STATES.map((s) => [s, band.optional()])) as Record<
          (typeof BAND_STATES)[number],
          z.ZodOptional<typeof band>
        >,
      )
      .optional()
      .describe('the band of the signal per state, e.g. { running: [400, 800] }; else learned'),
    longRunHours: z
      .number()
      .positive()
      .max(8784)
      .optional()
      .describe('long_run after this many hours running'),
    shortCycle: z
      .strictObject({ maxChangesPerHour: z.number().int().min(1).max(3600) })
      .optional()
      .describe('short_cycling above this many state changes within an hour'),
    serviceHours: z
      .string()
      .max(500)
      .superRefine((text, ctx) => {
        const p = parseServiceHours(text);
        if (!p.ok) ctx.addIssue({ code: 'custom', message: p.error });
      })
      .optional()
      .describe('e.g. "Mon-Fri 08:00-18:00" in the collector time zone; out_of_hours is off without it'),
    staleSamples: z
      .number()
      .int()
      .min(2)
      .max(100_000)
      .optional()
      .describe('sensor_stuck after this many equal readings while powered'),
    disabled: z
      .array(z.enum(ANOMALY_TYPES))
      .max(ANOMALY_TYPES.length)
      .optional()
      .describe('anomaly types switched off'),
  })
  .describe('anomaly detection settings; each key overrides the fleet default');

export type AnomalyInput = z.infer<typeof anomalySchema>;

/** The collector config's `alerts:` section. */
export const alertsConfigSchema = z.strictObject({
  /**
   * Flapping: an alert resolves by itself only once its condition has stayed clear this long
   * (event time); a new episode meanwhile is a repeat of the same alert.
   */
  clearAfter: duration().default(10 * 60_000),
  /** A new episode this soon after an alert was resolved reopens it instead of opening another. */
  reopenWithin: duration().default(60 * 60_000),
  /** How often the detectors look at what arrived (they never run inside ingest). */
  detectEvery: duration()
    .pipe(z.number().min(100, 'must be at least 100ms').max(3_600_000, 'must be at most 1h'))
    .default(2000),
  /**
   * How long a new observation waits for earlier ones still on their way (event time, or arrival
   * time) before the event-time detectors fold it; an agent's usual jitter then costs nothing.
   */
  reorderWait: duration().default(30_000),
  /** Fleet-wide anomaly settings; an instrument's own `anomaly` wins key by key. */
  anomaly: anomalySchema.optional(),
});

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;

export const ALERTS_DEFAULTS: AlertsConfig = alertsConfigSchema.parse({});
