import { z } from 'zod';

/** The InfluxDB shipper in `/healthz` (only when `influx:` is configured). It never makes it 503. */
export const influxHealthSchema = z
  .object({
    status: z
      .enum(['ok', 'lagging', 'failing'])
      .describe(
        'failing: the last write failed (retrying); lagging: the oldest unshipped message is over 60 s old',
      ),
    lagMessages: z.number().int().describe('ledger rows committed and not yet in InfluxDB'),
    lagSeconds: z.number().describe('age of the oldest of them, s'),
    lastSuccessAt: z.string().nullable().describe('last successful write, ISO 8601'),
    lastError: z.string().nullable().describe('why the writes fail, while they do'),
    consecutiveFailures: z.number().int(),
  })
  .describe('the InfluxDB shipper');
