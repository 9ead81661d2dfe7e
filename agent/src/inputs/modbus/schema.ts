import { duration } from '@dayi/protocols';
import { limitsSchema, PARITIES, PROFILE_NAME_PATTERN, pointSchema } from '@dayi/protocols/modbus/index.ts';
import { z } from 'zod';

export const TRANSPORTS = ['tcp', 'rtu', 'rtu-over-tcp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const modbusInputSchema = z
  .object({
    type: z.literal('modbus'),
    /** Shown in logs and in `status`; default `modbus tcp 10.0.0.5:502 unit 1`. */
    name: z.string().min(1).max(128).optional(),
    /** `tcp` (Modbus TCP), `rtu` (RS-485 on a serial port), `rtu-over-tcp` (RTU frames through a transparent gateway). */
    transport: z.enum(TRANSPORTS).default('tcp'),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(502),
    /** Serial device for `rtu`: `/dev/ttyUSB0`, `/dev/serial/by-id/…`, `COM3`. */
    path: z.string().min(1).optional(),
    /** Serial settings; default the profile's, else 9600 8N1. */
    baudRate: z.number().int().positive().optional(),
    parity: z.enum(PARITIES).optional(),
    dataBits: z.union([z.literal(7), z.literal(8)]).optional(),
    stopBits: z.union([z.literal(1), z.literal(2)]).optional(),
    /** Slave address on the bus or behind the gateway; default the profile's, else 1. */
    unitId: z.number().int().min(0).max(255).optional(),
    /** A meter profile: `firmware-configs/modbus/<profile>.yaml`. */
    profile: z.string().regex(PROFILE_NAME_PATTERN, 'a profile name such as eastron-sdm630').optional(),
    /** Points read in addition to the profile's; one with the same metric replaces the profile's. */
    points: z.array(pointSchema).optional(),
    /** Poll period. */
    every: duration().default(1000),
    /** How long one request may wait for its answer. */
    timeout: duration().default(1000),
    /** Immediate retries of a request that timed out or got an exception, within one poll. */
    retries: z.number().int().min(0).max(5).default(1),
    /** After failures, reconnects (and polls of a silent device) wait `initial`, doubling up to `max`. */
    backoff: z
      .strictObject({ initial: duration().default(1000), max: duration().default(30_000) })
      .prefault({}),
    /** Request merging limits; default the profile's, else the protocol's (125 registers, 2000 bits). */
    limits: limitsSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.transport === 'rtu') {
      if (!c.path)
        ctx.addIssue({
          code: 'custom',
          path: ['path'],
          message: 'transport rtu needs the serial path, e.g. /dev/ttyUSB0',
        });
      if (c.host)
        ctx.addIssue({
          code: 'custom',
          path: ['host'],
          message: 'transport rtu reads a serial path, not a host',
        });
    } else {
      if (!c.host)
        ctx.addIssue({ code: 'custom', path: ['host'], message: `transport ${c.transport} needs a host` });
      if (c.path)
        ctx.addIssue({
          code: 'custom',
          path: ['path'],
          message: `transport ${c.transport} reads a host, not a serial path`,
        });
    }
    if (!c.profile && (!c.points || c.points.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['points'], message: 'give a profile or at least one point' });
    }
    if (c.every < 50) ctx.addIssue({ code: 'custom', path: ['every'], message: 'at least 50ms' });
    if (c.timeout < 10) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'at least 10ms' });
    if (c.backoff.max < c.backoff.initial) {
      ctx.addIssue({ code: 'custom', path: ['backoff', 'max'], message: 'must be at least backoff.initial' });
    }
    const seen = new Set<string>();
    c.points?.forEach((p, i) => {
      if (seen.has(p.metric))
        ctx.addIssue({
          code: 'custom',
          path: ['points', i, 'metric'],
          message: `duplicate metric ${p.metric}`,
        });
      seen.add(p.metric);
    });
  });

export type ModbusInputConfig = z.infer<typeof modbusInputSchema>;

/** The registry's name for it (../schemas.ts). */
export const schema = modbusInputSchema;
