import { classifySignal } from '@dayi/protocols/classify.ts';
import type { State } from '@dayi/protocols/mqtt/names.ts';

/** Power levels (W) of a simulated instrument in each powered state; `off` is the plug's residue. */
export interface PowerLevels {
  off: number;
  standby: number;
  idle: number;
  running: number;
}

export interface SimulatedStep {
  watts: number;
  /** How long the step lasts, ms. */
  for: number;
  /** A state the simulated instrument reports itself (vendor state), e.g. `fault`. */
  state?: State;
  /** false: the simulated device does not answer during this step (tests link reporting). */
  link?: boolean;
}

export const PATTERNS = ['office-hours', 'night-run', 'constant', 'steps'] as const;
export type Pattern = (typeof PATTERNS)[number];

export interface PatternConfig {
  pattern: Pattern;
  watts: PowerLevels;
  /** For `constant`: which level. */
  level: Exclude<State, 'fault'>;
  steps?: SimulatedStep[];
  /** Relative noise: 0.05 is ±5 % of the level, uniform. */
  noise: number;
  seed: number;
  timezone: string;
}

export interface SimulatedSample {
  watts: number;
  /** The state the schedule puts the instrument in (before noise): ground truth for tests. */
  state: State;
  /** false while a `steps` entry says the device does not answer. */
  link: boolean;
}

/**
 * The simulated instrument's power at event time `ts`: a pure function of (config, ts, anchor), so a
 * demo can backfill months of history and a live input agree on the same curve. `anchor` is where a
 * `steps` cycle starts.
 */
export function simulatedSample(cfg: PatternConfig, ts: number, anchor = 0): SimulatedSample {
  const { level, state, link, vendorState } = scheduled(cfg, ts, anchor);
  const jitter = cfg.noise > 0 ? (unitNoise(cfg.seed, ts) * 2 - 1) * cfg.noise * level : 0;
  const watts = Math.max(0, round1(level + jitter));
  return { watts, state: vendorState ?? state, link };
}

interface Scheduled {
  level: number;
  state: State;
  link: boolean;
  vendorState?: State;
}

function scheduled(cfg: PatternConfig, ts: number, anchor: number): Scheduled {
  const w = cfg.watts;
  const at = (state: Exclude<State, 'fault'>): Scheduled => ({ level: w[state], state, link: true });
  switch (cfg.pattern) {
    case 'constant':
      return at(cfg.level);
    case 'steps': {
      const steps = cfg.steps ?? [];
      const cycle = steps.reduce((sum, s) => sum + s.for, 0);
      if (steps.length === 0 || cycle <= 0) return at('off');
      let offset = (((ts - anchor) % cycle) + cycle) % cycle;
      for (const step of steps) {
        if (offset < step.for) {
          const state = classifySignal(step.watts, {
            standby: (w.off + w.standby) / 2,
            idle: (w.standby + w.idle) / 2,
            running: (w.idle + w.running) / 2,
          });
          return {
            level: step.watts,
            state,
            link: step.link ?? true,
            ...(step.state ? { vendorState: step.state } : {}),
          };
        }
        offset -= step.for;
      }
      return at('off');
    }
    case 'office-hours': {
      const t = localTime(ts, cfg.timezone);
      if (t.weekday >= 6) return at('standby');
      // The morning session starts 0–45 min late, differently each day, as real bookings do.
      const shift = Math.floor(unitNoise(cfg.seed, t.dayNumber) * 45);
      const m = t.minutes;
      if (m < 8 * 60) return at('standby');
      if (m < 9 * 60 + shift) return at('idle');
      if (m < 11 * 60 + 45) return at('running');
      if (m < 13 * 60 + 30) return at('idle'); // lunch break
      if (m < 17 * 60 + 30) return at('running');
      if (m < 19 * 60) return at('idle');
      return at('standby');
    }
    case 'night-run': {
      // Long unattended acquisitions overnight (NMR, crystallography), set up during the day.
      const m = localTime(ts, cfg.timezone).minutes;
      if (m >= 20 * 60 || m < 6 * 60) return at('running');
      return at('idle');
    }
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight, ISO weekday (1 = Monday) and a local day counter, in `timezone`. */
export function localTime(
  ts: number,
  timezone: string,
): { minutes: number; weekday: number; dayNumber: number } {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timezone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(ts)) parts[p.type] = p.value;
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday ?? '') + 1;
  const dayNumber = Math.floor(
    Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) / 86_400_000,
  );
  return { minutes: Number(parts.hour) * 60 + Number(parts.minute), weekday, dayNumber };
}

/** A deterministic number in [0, 1) from (seed, n): noise that replays identically for the same ts. */
export function unitNoise(seed: number, n: number): number {
  // splitmix32-style integer hash over both inputs.
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(Math.floor(n) | 0, 0x85ebca6b)) >>> 0;
  h ^= Math.floor(n / 2 ** 32) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
  h ^= h >>> 15;
  return (h >>> 0) / 2 ** 32;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
