import type { Input, InputDeps, InputLink, InputSink } from '../types.ts';
import { type PatternConfig, simulatedSample } from './pattern.ts';
import type { SimulatedInputConfig } from './schema.ts';

export { localTime, PATTERNS, simulatedSample, unitNoise } from './pattern.ts';
export type { SimulatedInputConfig } from './schema.ts';

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
