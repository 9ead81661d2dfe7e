import { duration, stateSchema } from '@dayi/protocols';
import { z } from 'zod';
import type { Input, InputDeps, InputLink, InputSink } from '../types.ts';
import { PATTERNS, type PatternConfig, simulatedSample } from './pattern.ts';

export { localTime, PATTERNS, simulatedSample, unitNoise } from './pattern.ts';

const DEFAULT_WATTS = { off: 0, standby: 15, idle: 150, running: 900 };

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

/** Timers the input uses; tests pass fake ones. */
export interface SimulatedClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * A believable instrument for the demo and tests: one reading of `power_w`, `current_a` and
 * `voltage_v` every `every`, following `pattern`, with seeded noise.
 */
export function create(config: SimulatedInputConfig, deps: InputDeps, clock?: SimulatedClock): Input {
  const c: SimulatedClock = clock ?? {
    now: deps.now ?? Date.now,
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
  const pattern: PatternConfig = {
    pattern: config.pattern,
    watts: config.watts,
    level: config.level,
    noise: config.noise,
    seed: config.seed,
    timezone: config.timezone,
    ...(config.steps ? { steps: config.steps } : {}),
  };
  const name = config.name ?? `simulated ${config.pattern}`;
  let timer: unknown = null;
  let link: InputLink = { connected: false };
  let anchor = config.start ?? 0;

  const tick = (sink: InputSink) => {
    const ts = c.now();
    const s = simulatedSample(pattern, ts, anchor);
    if (!s.link) {
      if (link.connected || !link.lastError) {
        link = { connected: false, lastError: 'simulated device not answering', lastErrorAt: ts };
        sink.error(new Error('simulated device not answering'), {
          input: name,
          instrumentId: deps.instrumentId,
        });
      }
      return;
    }
    if (!link.connected) link = { ...link, connected: true };
    const metrics = {
      power_w: s.watts,
      current_a: Math.round((s.watts / config.voltage) * 1000) / 1000,
      voltage_v: config.voltage,
    };
    sink.reading({ ts, metrics, ...(config.reportState || s.state === 'fault' ? { state: s.state } : {}) });
  };

  return {
    name,
    type: 'simulated',
    async start(sink) {
      if (timer !== null) return;
      if (config.start === undefined) anchor = c.now();
      tick(sink);
      timer = c.setInterval(() => tick(sink), config.every);
    },
    async stop() {
      if (timer !== null) c.clearInterval(timer);
      timer = null;
      link = { ...link, connected: false };
    },
    link: () => link,
  };
}
