import { addDays, dateOf } from '../derive/pure/calendar.ts';
import { addSample, type DayHist, type DayHistograms, type LearnedBands, learnBands } from './histogram.ts';
import { initLevelShift, type LevelShiftState, levelShiftOnSample } from './level-shift.ts';
import { closeLongRun, initLongRun, type LongRunState, longRunOnSegment } from './long-run.ts';
import {
  closeOutOfHours,
  initOutOfHours,
  type OutOfHoursState,
  outOfHoursOnSegment,
} from './out-of-hours.ts';
import { endOutOfBand, initOutOfBand, type OutOfBandState, outOfBandOnSample } from './power-band.ts';
import { endStuck, initStuck, type StuckState, stuckOnSample } from './sensor-stuck.ts';
import { BAND_LEARN_DAYS, isEnabled } from './settings.ts';
import {
  initShortCycling,
  type ShortCyclingState,
  shortCyclingOnSample,
  shortCyclingOnStale,
} from './short-cycling.ts';
import type { BandState, DetectSettings, Emit, Finding, Interval, Sample } from './types.ts';
import { endFault, type FaultState, faultOnSample, initFault } from './vendor-fault.ts';

/**
 * The event-time detectors as one fold over an instrument's observations in event-time order
 * (ts, then ledger id), with derivation's rule for evidence: observation i holds over
 * [ts_i, min(ts_{i+1}, ts_i + offlineAfter)); past that the evidence is stale and every episode that
 * needs evidence ends there. Pure: the same observations in give the same state and findings out,
 * whatever order they arrived in and however they are cut into calls (a property test holds it).
 *
 * Calendar days matter for one thing: learned bands. Each local day's samples go into that day's
 * histograms; at the first observation of a new day the bands are learned from the 14 days before
 * it. The fold returns each finished day's histograms and a checkpoint (the state at the new day's
 * midnight) so that its shell can store them and fold again from a midnight when late data arrives.
 */
export interface FoldState {
  v: 1;
  /** Local date of the last folded observation. */
  date: string | null;
  /** The last folded observation: nothing at or before it may be folded again. */
  watermark: { ts: number; id: number } | null;
  last: { ts: number; state: Sample['state'] } | null;
  learned: LearnedBands;
  hist: DayHistograms;
  band: OutOfBandState;
  shift: LevelShiftState;
  cycle: ShortCyclingState;
  run: LongRunState;
  hours: OutOfHoursState;
  stuck: StuckState;
  fault: FaultState;
}

export function initFold(): FoldState {
  return {
    v: 1,
    date: null,
    watermark: null,
    last: null,
    learned: {},
    hist: {},
    band: initOutOfBand(),
    shift: initLevelShift(),
    cycle: initShortCycling(),
    run: initLongRun(),
    hours: initOutOfHours(),
    stuck: initStuck(),
    fault: initFault(),
  };
}

export interface FoldEnv {
  settings: DetectSettings;
  /** Bookings of the instrument over the span folded (for out_of_hours). */
  bookings: readonly Interval[];
  /** Stored histograms of the dates in [from, to], for learning bands (days folded in this call win). */
  pastDays: (from: string, to: string) => readonly DayHist[];
}

export interface FoldResult {
  state: FoldState;
  findings: Finding[];
  /** Days this call finished: their histograms are final. */
  finishedDays: DayHist[];
  /** The state at the local midnight that starts each date the call entered. */
  checkpoints: { date: string; state: FoldState }[];
}

/** Whether `s` comes after the watermark (in (ts, id) order) and may be folded. */
export function isAfter(watermark: FoldState['watermark'], s: { ts: number; id: number }): boolean {
  return watermark === null || s.ts > watermark.ts || (s.ts === watermark.ts && s.id > watermark.id);
}

export function compareSamples(a: Sample, b: Sample): number {
  return a.ts - b.ts || a.id - b.id;
}

/**
 * Folds `samples` (any order; those at or before the watermark are ignored: fold again from a
 * checkpoint for late ones) into a copy of `state`.
 */
export function fold(state: FoldState, samples: readonly Sample[], env: FoldEnv): FoldResult {
  return foldInPlace(structuredClone(state), samples, env);
}

/** `fold` that updates `st` itself instead of a copy (for a shell that owns the state). */
export function foldInPlace(st: FoldState, samples: readonly Sample[], env: FoldEnv): FoldResult {
  const findings: Finding[] = [];
  const emit: Emit = (f) => findings.push(f);
  const finishedDays: DayHist[] = [];
  const checkpoints: { date: string; state: FoldState }[] = [];
  const tz = env.settings.timezone;
  const sorted = samples.filter((s) => isAfter(st.watermark, s)).sort(compareSamples);
  const on = enabledDetectors(env.settings);
  for (const s of sorted) {
    const date = dateOf(s.ts, tz);
    if (st.date !== date) {
      if (st.date !== null) finishedDays.push({ date: st.date, hist: st.hist });
      st.date = date;
      st.hist = {};
      st.learned = learnBands(historyBefore(date, env, finishedDays));
      checkpoints.push({ date, state: structuredClone(st) });
    }
    step(st, s, env, on, emit);
  }
  return { state: st, findings, finishedDays, checkpoints };
}

function historyBefore(date: string, env: FoldEnv, finished: readonly DayHist[]): DayHist[] {
  const from = addDays(date, -BAND_LEARN_DAYS);
  const to = addDays(date, -1);
  const byDate = new Map<string, DayHist>();
  for (const d of env.pastDays(from, to)) if (d.date >= from && d.date <= to) byDate.set(d.date, d);
  for (const d of finished) if (d.date >= from && d.date <= to) byDate.set(d.date, d);
  return [...byDate.values()];
}

type Enabled = Record<
  | 'long_run'
  | 'out_of_hours'
  | 'power_out_of_band'
  | 'level_shift'
  | 'short_cycling'
  | 'sensor_stuck'
  | 'vendor_fault',
  boolean
>;

function enabledDetectors(settings: DetectSettings): Enabled {
  return {
    long_run: isEnabled(settings, 'long_run'),
    out_of_hours: isEnabled(settings, 'out_of_hours') && settings.serviceHours !== null,
    power_out_of_band: isEnabled(settings, 'power_out_of_band'),
    level_shift: isEnabled(settings, 'level_shift'),
    short_cycling: isEnabled(settings, 'short_cycling'),
    sensor_stuck: isEnabled(settings, 'sensor_stuck'),
    vendor_fault: isEnabled(settings, 'vendor_fault'),
  };
}

function step(st: FoldState, s: Sample, env: FoldEnv, enabled: Enabled, emit: Emit): void {
  const settings = env.settings;
  const last = st.last;
  let prev: { ts: number; state: string } | null = null;
  if (last) {
    const staleAt = last.ts + settings.offlineAfterMs;
    const segEnd = Math.min(s.ts, staleAt);
    if (segEnd > last.ts) {
      const seg = { start: last.ts, end: segEnd, state: last.state };
      if (enabled.long_run) longRunOnSegment(st.run, seg, settings, emit);
      if (enabled.out_of_hours) outOfHoursOnSegment(st.hours, seg, settings, env.bookings, emit);
    }
    if (s.ts > staleAt) stale(st, staleAt, settings, emit);
    else prev = last;
  }
  if (enabled.power_out_of_band) outOfBandOnSample(st.band, s, settings, st.learned, emit);
  if (enabled.level_shift) levelShiftOnSample(st.shift, s, settings, st.learned, emit);
  if (enabled.short_cycling) shortCyclingOnSample(st.cycle, s, prev, settings, emit);
  if (enabled.sensor_stuck) stuckOnSample(st.stuck, s, settings, emit);
  if (enabled.vendor_fault) faultOnSample(st.fault, s, emit);
  if (s.value !== null && (s.state === 'standby' || s.state === 'idle' || s.state === 'running')) {
    const key: BandState = s.state;
    const h = st.hist[key] ?? {};
    st.hist[key] = h;
    addSample(h, s.value);
  }
  if (last) {
    last.ts = s.ts;
    last.state = s.state;
  } else st.last = { ts: s.ts, state: s.state };
  if (st.watermark) {
    st.watermark.ts = s.ts;
    st.watermark.id = s.id;
  } else st.watermark = { ts: s.ts, id: s.id };
}

/** The evidence went stale at `at`: every episode that needs fresh evidence ends there. */
function stale(st: FoldState, at: number, settings: DetectSettings, emit: Emit): void {
  endOutOfBand(st.band, at, emit, settings);
  shortCyclingOnStale(st.cycle, at, settings, emit);
  closeLongRun(st.run, settings, emit);
  closeOutOfHours(st.hours, settings, emit);
  endStuck(st.stuck, at, emit, settings);
  endFault(st.fault, at, emit);
}
