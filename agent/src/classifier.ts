import { classifySignal, type SignalThresholds } from '@dayi/protocols/classify.ts';
import type { State } from '@dayi/protocols/mqtt/names.ts';

/** How an instrument's state is decided: SPEC thresholds on one signal, made stable. */
export interface ClassifierOptions {
  /** A metric name (`power_w`) or `vendor`: use the state the inputs report. */
  signal: string;
  aggregate: 'avg' | 'min' | 'max';
  /** ms: the aggregate is taken over samples in (ts - window, ts]. */
  window: number;
  thresholds?: SignalThresholds;
  /** Fraction: leaving a state needs crossing its threshold by hysteresis x threshold. */
  hysteresis: number;
  /** ms a candidate state must hold before it is committed. */
  minDwell: number;
}

/** One sample fed to the classifier: a Reading plus which input it came from. */
export interface ClassifierSample {
  ts: number;
  metrics: Record<string, number>;
  state?: State;
  /** Input name; a vendor fault is cleared only by the input that raised it. */
  source?: string;
}

/** A committed state change: publish it (`state` topic). */
export interface StateChange {
  /** When it was committed (event time of the sample that committed it). */
  ts: number;
  state: State;
  /** When the new state actually began: the first sample of the candidate. */
  since: number;
  /** What decided it: the signal name, or the input that reported the state. */
  source: string;
  previous: State | null;
}

const ORDER: readonly State[] = ['off', 'standby', 'idle', 'running'];

/**
 * The agent's state classifier: pure, fed with samples in event-time order, no timers.
 *
 * 1. The signal is aggregated (avg/min/max) over a sliding `window`.
 * 2. A Schmitt trigger on SPEC's thresholds: to leave the current level upwards the aggregate must
 *    reach the upper threshold x (1 + hysteresis); downwards fall below the lower threshold
 *    x (1 - hysteresis). So noise around a threshold does not flip the state.
 * 3. Minimum dwell: a new level is committed only after it held `minDwell`; `since` is when it began.
 * 4. A vendor `fault` from any input wins at once and holds until a reading of that input comes
 *    without it.
 * With `signal: vendor`, states reported by inputs are committed at once.
 * The very first state is committed at once (there is nothing to debounce against).
 */
export class StateClassifier {
  readonly options: ClassifierOptions;
  private readonly samples: { ts: number; value: number }[] = [];
  private level: State | null = null;
  private committed: State | null = null;
  private committedSince = 0;
  private candidate: { state: State; since: number } | null = null;
  private readonly faults = new Map<string, number>();
  private vendorState: { state: State; source: string; ts: number } | null = null;
  private lastTs = Number.NEGATIVE_INFINITY;

  constructor(options: ClassifierOptions) {
    if (options.signal !== 'vendor' && !options.thresholds)
      throw new Error(`thresholds are required for signal ${options.signal}`);
    this.options = options;
  }

  /** The committed state, or null before the first sample with the signal. */
  get state(): State | null {
    return this.committed;
  }

  get since(): number | null {
    return this.committed === null ? null : this.committedSince;
  }

  /** The aggregate of the signal over the window ending at the last sample, or null. */
  get aggregate(): number | null {
    if (this.samples.length === 0) return null;
    const values = this.samples.map((s) => s.value);
    if (this.options.aggregate === 'min') return Math.min(...values);
    if (this.options.aggregate === 'max') return Math.max(...values);
    return values.reduce((a, b) => a + b, 0) / values.length;
  }

  /** Feeds one sample; returns the state change it commits, if any. Older samples than the last are ignored. */
  push(sample: ClassifierSample): StateChange | null {
    if (sample.ts < this.lastTs) return null;
    this.lastTs = sample.ts;
    const source = sample.source ?? 'input';

    // An input reports `fault` for as long as the fault lasts: its next reading without it (another
    // state, or none, as a Modbus status point that is no longer faulted) clears it.
    if (sample.state === 'fault') this.faults.set(source, sample.ts);
    else this.faults.delete(source);
    if (sample.state !== undefined && sample.state !== 'fault')
      this.vendorState = { state: sample.state, source, ts: sample.ts };

    if (this.options.signal !== 'vendor') {
      const value = sample.metrics[this.options.signal];
      if (value !== undefined && Number.isFinite(value)) {
        this.samples.push({ ts: sample.ts, value });
        this.level = this.nextLevel();
      }
    }
    return this.decide(sample.ts, source);
  }

  /** Lets time pass with no sample (for dwell to complete); returns the change it commits, if any. */
  advance(ts: number): StateChange | null {
    if (ts < this.lastTs) return null;
    this.lastTs = ts;
    return this.decide(ts, this.options.signal);
  }

  private decide(ts: number, source: string): StateChange | null {
    if (this.faults.size > 0) {
      this.candidate = null;
      if (this.committed === 'fault') return null;
      const [faultSource] = this.faults.keys();
      return this.commit('fault', ts, ts, faultSource ?? source);
    }
    if (this.options.signal === 'vendor') {
      const v = this.vendorState;
      if (!v || v.state === this.committed) return null;
      return this.commit(v.state, ts, v.ts, v.source);
    }
    const level = this.level;
    if (level === null) return null;
    // Leaving a fault, or the first state: nothing to debounce against.
    if (this.committed === null || this.committed === 'fault') {
      this.candidate = null;
      return this.commit(level, ts, ts, this.options.signal);
    }
    if (level === this.committed) {
      this.candidate = null;
      return null;
    }
    if (!this.candidate || this.candidate.state !== level) this.candidate = { state: level, since: ts };
    if (ts - this.candidate.since >= this.options.minDwell) {
      const { since } = this.candidate;
      this.candidate = null;
      return this.commit(level, ts, since, this.options.signal);
    }
    return null;
  }

  private commit(state: State, ts: number, since: number, source: string): StateChange {
    const previous = this.committed;
    this.committed = state;
    this.committedSince = since;
    return { ts, state, since, source, previous };
  }

  /** Schmitt trigger around the current level on the windowed aggregate. */
  private nextLevel(): State {
    const last = this.samples[this.samples.length - 1]!;
    while (this.samples.length > 1 && this.samples[0]!.ts <= last.ts - this.options.window)
      this.samples.shift();
    const x = this.aggregate!;
    const t = this.options.thresholds!;
    const raw = classifySignal(x, t);
    const current = this.level;
    if (current === null || current === 'fault' || raw === current) return raw;
    const h = this.options.hysteresis;
    const bounds: Record<Exclude<State, 'fault'>, [number, number]> = {
      off: [Number.NEGATIVE_INFINITY, t.standby],
      standby: [t.standby, t.idle],
      idle: [t.idle, t.running],
      running: [t.running, Number.POSITIVE_INFINITY],
    };
    const [low, high] = bounds[current];
    const up = ORDER.indexOf(raw) > ORDER.indexOf(current);
    if (up) return x >= high * (1 + h) ? raw : current;
    return x < low * (1 - h) ? raw : current;
  }
}
