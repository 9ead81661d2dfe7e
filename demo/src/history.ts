import { type Pattern, type PatternConfig, simulatedSample } from '@dayi/agent/inputs/simulated/pattern.ts';
import { classifySignal, type Telemetry } from '@dayi/protocols';
import { type DemoInstrument, thresholdsFor } from './fleet.ts';

/**
 * The demo's history importer numbers its messages from here, so they never collide with the seq
 * of the live agent that takes over the same instrument (the collector deduplicates by seq).
 */
export const HISTORY_SEQ_BASE = 1_000_000_000_000;
const DAY = 86_400_000;

export interface HistoryOptions {
  now: number;
  days: number;
  stepMs: number;
  timezone: string;
}

/**
 * Past telemetry of one demo instrument, one message per `stepMs`, computed from the same curve
 * the live simulated input follows (`simulatedSample`), so history and live data agree.
 */
export function* historyOf(inst: DemoInstrument, o: HistoryOptions): Generator<Telemetry> {
  if (inst.behaviour === 'never') return;
  const thresholds = thresholdsFor(inst.watts);
  const idleMonths = inst.behaviour === 'idle-months';
  const from = idleMonths ? o.now - 130 * DAY : o.now - o.days * DAY;
  const to = idleMonths ? o.now - 120 * DAY : o.now - o.stepMs;
  const pattern: Pattern = inst.behaviour === 'idle-months' ? 'office-hours' : inst.behaviour;
  const cfg: PatternConfig = {
    pattern,
    watts: inst.watts,
    level: inst.level ?? 'running',
    noise: 0.03,
    seed: seedOf(inst.id),
    timezone: o.timezone,
  };
  let seq = HISTORY_SEQ_BASE;
  for (let ts = Math.ceil(from / o.stepMs) * o.stepMs; ts <= to; ts += o.stepMs) {
    const { watts } = simulatedSample(cfg, ts);
    yield {
      ts,
      seq: seq++,
      metrics: { power_w: watts, current_a: Math.round((watts / 230) * 1000) / 1000 },
      state: classifySignal(watts, thresholds),
    };
  }
}

/** A stable small seed per instrument, so its noise and late starts differ from the others'. */
export function seedOf(id: string): number {
  let h = 7;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 100_000;
}
