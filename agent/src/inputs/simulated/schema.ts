import { duration, stateSchema } from '@dayi/protocols';
import { z } from 'zod';
import { PATTERNS } from './pattern.ts';

const DEFAULT_WATTS = { off: 0, standby: 15, idle: 150, running: 900 };

/** `instruments[].inputs[]` with `type: simulated` (the registry: ../schemas.ts). */
export const schema = z
  .strictObject({
    type: z.literal('simulated'),
    /** Shown in logs and in `status.inputs[].name`; default `simulated <pattern>`. */
    name: z.string().min(1).max(128).optional(),
    pattern: z.enum(PATTERNS).default('office-hours'),
    watts: z
      .strictObject({
        off: z.number().min(0).default(DEFAULT_WATTS.off),
        standby: z.number().min(0).default(DEFAULT_WATTS.standby),
        idle: z.number().min(0).default(DEFAULT_WATTS.idle),
        running: z.number().min(0).default(DEFAULT_WATTS.running),
      })
      .prefault({}),
    /** For `pattern: constant`: the level held. */
    level: z.enum(['off', 'standby', 'idle', 'running']).default('running'),
    /** For `pattern: steps`: a cycle of levels, repeated from when the input starts (or `start`). */
    steps: z
      .array(
        z.strictObject({
          watts: z.number().min(0),
          for: duration(),
          state: stateSchema.optional(),
          link: z.boolean().optional(),
        }),
      )
      .min(1)
      .optional(),
    /** Where the steps cycle starts, ms since the epoch; default the input's start. */
    start: z.number().int().min(0).optional(),
    noise: z.number().min(0).max(1).default(0.03),
    seed: z.number().int().default(1),
    every: duration().default(1000),
    /** Local time zone of the office-hours and night-run schedules. */
    timezone: z.string().default('Asia/Shanghai'),
    /** Also report the schedule's state as the instrument's own (vendor) state. */
    reportState: z.boolean().default(false),
    /** Mains voltage used to derive `current_a` from `power_w`. */
    voltage: z.number().positive().default(230),
  })
  .superRefine((c, ctx) => {
    if (c.pattern === 'steps' && !c.steps)
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'pattern steps needs a steps list' });
    if (c.every <= 0) ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be above 0' });
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: c.timezone });
    } catch {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone ${c.timezone}` });
    }
  });

export type SimulatedInputConfig = z.infer<typeof schema>;
