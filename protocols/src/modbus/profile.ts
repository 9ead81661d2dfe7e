/**
 * Schemas of a Modbus point and of a meter profile (firmware-configs/modbus/<name>.yaml).
 * A profile is data: a manufacturer's published register map, mapped to SPEC metric names.
 */
import { z } from 'zod';
import { METRIC_NAME_PATTERN } from '../mqtt/payloads.ts';
import { ADDRESS_SPACE, MAX_READ_BITS, MAX_READ_REGISTERS, pointWidth } from './planner.ts';
import { FUNCTION_CODES, type FunctionCode, REGISTER_TYPES, WORD_ORDERS } from './registers.ts';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * A vendor fault read from a point: tested on the RAW value (before scale and offset), so status
 * words and bit masks read as the manual prints them. Any condition that holds means `fault`.
 */
export const faultSchema = z
  .object({
    /** raw === equals */
    equals: finite.optional(),
    /** (raw & mask) !== 0 — a fault bit in a status word */
    mask: z.number().int().min(1).max(0xffffffff).optional(),
    /** raw < below — e.g. a 4–20 mA loop under 3.6 mA (NAMUR NE 43 wire break) */
    below: finite.optional(),
    /** raw > above */
    above: finite.optional(),
  })
  .strict()
  .refine(
    (f) => f.equals !== undefined || f.mask !== undefined || f.below !== undefined || f.above !== undefined,
    'give at least one of equals, mask, below, above',
  );
export type FaultCondition = z.infer<typeof faultSchema>;

export const pointSchema = z
  .object({
    metric: z
      .string()
      .regex(METRIC_NAME_PATTERN, 'metric names are snake_case with a unit suffix, e.g. power_w'),
    fc: z
      .number()
      .refine(
        (v): v is FunctionCode => (FUNCTION_CODES as readonly number[]).includes(v),
        'fc must be 1, 2, 3 or 4',
      )
      .transform((v) => v as FunctionCode),
    /** The 0-based address on the wire (30053 in a manual is 52 = 0x34 with fc 4). */
    address: z
      .number()
      .int()
      .min(0)
      .max(ADDRESS_SPACE - 1),
    type: z.enum(REGISTER_TYPES).default('uint16'),
    order: z.enum(WORD_ORDERS).default('ABCD'),
    scale: finite.default(1),
    offset: finite.default(0),
    fault: faultSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.address + pointWidth({ unitId: 1, ...p }) > ADDRESS_SPACE) {
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: `${p.type} at ${p.address} runs past 65535`,
      });
    }
  });
export type ModbusPoint = z.infer<typeof pointSchema>;
/** A point as written in YAML, before defaults. */
export type ModbusPointInput = z.input<typeof pointSchema>;

export const PARITIES = ['none', 'even', 'odd'] as const;

export const serialSettingsSchema = z
  .object({
    baudRate: z.number().int().positive().optional(),
    parity: z.enum(PARITIES).optional(),
    dataBits: z.union([z.literal(7), z.literal(8)]).optional(),
    stopBits: z.union([z.literal(1), z.literal(2)]).optional(),
  })
  .strict();

export const limitsSchema = z
  .object({
    maxRegisters: z.number().int().min(4).max(MAX_READ_REGISTERS).optional(),
    maxBits: z.number().int().min(1).max(MAX_READ_BITS).optional(),
    maxGap: z.number().int().min(0).max(MAX_READ_REGISTERS).optional(),
  })
  .strict();

const sourceSchema = z
  .object({
    title: z.string().min(1),
    url: z.url().optional(),
    note: z.string().optional(),
  })
  .strict();

export const PROFILE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

export const profileSchema = z
  .object({
    name: z.string().regex(PROFILE_NAME_PATTERN, 'lowercase letters, digits and dashes, e.g. eastron-sdm630'),
    manufacturer: z.string().min(1),
    model: z.string().min(1),
    description: z.string().optional(),
    /** Where the register map comes from: the manufacturer's document first. */
    sources: z.array(sourceSchema).min(1),
    /** Registers this map carries that could not be confirmed from a published source. */
    unconfirmed: z.array(z.string()).default([]),
    unitId: z.number().int().min(0).max(255).default(1),
    serial: serialSettingsSchema.default({}),
    limits: limitsSchema.default({}),
    points: z.array(pointSchema).min(1),
  })
  .strict()
  .superRefine((profile, ctx) => {
    const seen = new Set<string>();
    profile.points.forEach((p, i) => {
      if (seen.has(p.metric)) {
        ctx.addIssue({
          code: 'custom',
          path: ['points', i, 'metric'],
          message: `duplicate metric ${p.metric}`,
        });
      }
      seen.add(p.metric);
    });
  });
export type ModbusProfile = z.infer<typeof profileSchema>;

// Run-time helpers on points, without zod (the agent's service process never loads it).
export { isFault, mergePoints } from './points.ts';
