/**
 * The hours a `state:` block gives on a recording: the recording run through the agent's own
 * classifier (aggregate, window, hysteresis, minimum dwell), then the time in each state summed as
 * SPEC defines it (powered: any state but off; running: running). Pure.
 *
 * Each committed state counts from its `since` (when it began, before the dwell confirmed it) to the
 * next one's, as the collector believes `since`. Time in a gap between samples longer than
 * MAX_GAP_MS is in no state: the data is missing there.
 */
import type { SignalThresholds } from '@dayi/protocols/classify.ts';
import type { State } from '@dayi/protocols/mqtt/names.ts';
import { StateClassifier } from '../classifier.ts';
import { MAX_GAP_MS, type Sample } from './series.ts';

/** How the agent classifies: what `state:` holds besides the signal. */
export interface ClassifierSettings {
  aggregate: 'avg' | 'min' | 'max';
  window: number;
  hysteresis: number;
  minDwell: number;
}

/** The agent's defaults (agent/src/config.ts). */
export const DEFAULT_SETTINGS: ClassifierSettings = {
  aggregate: 'avg',
  window: 10_000,
  hysteresis: 0.1,
  minDwell: 30_000,
};

export interface Hours {
  poweredHours: number;
  runningHours: number;
  /** Hours in each state. */
  byState: Record<'off' | 'standby' | 'idle' | 'running', number>;
  /** Hours with data (gaps longer than MAX_GAP_MS left out). */
  coveredHours: number;
  /** State changes committed after the first state: flapping shows here. */
  changes: number;
}

const H = 3_600_000;

/** Runs `samples` (in time order) through the classifier with `thresholds` and `settings`. */
export function hoursOf(
  samples: readonly Sample[],
  thresholds: SignalThresholds,
  settings: ClassifierSettings = DEFAULT_SETTINGS,
  maxGapMs = MAX_GAP_MS,
): Hours {
  const c = new StateClassifier({ signal: 'x', thresholds, ...settings });
  // The committed states with when each began; `since` is always a sample's time.
  const timeline: { since: number; state: State }[] = [];
  let commits = 0;
  for (const s of samples) {
    const change = c.push({ ts: s.ts, metrics: { x: s.value } });
    if (change) {
      commits++;
      while (timeline.length > 0 && timeline[timeline.length - 1]!.since >= change.since) timeline.pop();
      timeline.push({ since: change.since, state: change.state });
    }
  }
  const byState = { off: 0, standby: 0, idle: 0, running: 0 };
  let covered = 0;
  let k = 0;
  for (let i = 0; i + 1 < samples.length; i++) {
    const from = samples[i]!.ts;
    const d = samples[i + 1]!.ts - from;
    if (d <= 0 || d > maxGapMs) continue;
    while (k + 1 < timeline.length && timeline[k + 1]!.since <= from) k++;
    const state = timeline[k]?.state;
    if (state === undefined || state === 'fault' || timeline[k]!.since > from) continue;
    byState[state] += d;
    covered += d;
  }
  const hours = (ms: number) => ms / H;
  return {
    poweredHours: hours(byState.standby + byState.idle + byState.running),
    runningHours: hours(byState.running),
    byState: {
      off: hours(byState.off),
      standby: hours(byState.standby),
      idle: hours(byState.idle),
      running: hours(byState.running),
    },
    coveredHours: hours(covered),
    changes: Math.max(0, commits - 1),
  };
}
