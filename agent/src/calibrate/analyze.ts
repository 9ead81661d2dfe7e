/**
 * Threshold calibration, the pure part: from a recording of one signal (power_w, current_a…) find
 * the levels the instrument dwelt at, and suggest the SPEC thresholds, with hysteresis, that the
 * agent's classifier turns into the hours the technician expects.
 *
 * What the method answers, and why:
 * - **Time, not samples.** The recording is first put on a one-second grid (a reading holds until
 *   the next; faster readings are averaged), so a meter read every 4 s and the same meter read every
 *   second give the same grid, the same levels and the same thresholds.
 * - **What the classifier sees.** Levels are found on the signal's aggregate over the classifier's
 *   window (avg over 10 s by default), not on raw readings: dither between two meter steps averages
 *   into one level, and a one-second inrush becomes a short bump.
 * - **Dwell.** A level is where that aggregate stayed at least the classifier's minimum dwell
 *   (30 s by default). Stretches that never last that long (start-up peaks, switching, keep-warm
 *   pulses) are transients: the classifier would never commit them, so they are not states.
 * - **Levels on a log axis.** An instrument's levels are decades apart (0 W, 2 W, 150 W, 1.4 kW) and
 *   noise grows with them: the valleys of a time-weighted histogram of log10(aggregate + ε) split it.
 * - **Quantisation.** The meter's step is estimated from its readings; levels one or two steps apart
 *   (0/2 W, 2/4 W) are one level, and no boundary is placed inside a level.
 * - **Thresholds with room.** A boundary sits at the geometric middle between the lower level's top
 *   and the upper level's bottom (of the aggregate), and the hysteresis is half the room there, so
 *   neither level's noise can flip the state. Standby is above zero and above the off level.
 * - **Which level is work** cannot be read from power alone: the highest level is the default, the
 *   technician can choose (`runningFrom`), and the hours every choice gives are computed by running
 *   the recording through the agent's own classifier (./hours.ts).
 */
import type { SignalThresholds } from '@dayi/protocols/classify.ts';
import { type ClassifierSettings, DEFAULT_SETTINGS, type Hours, hoursOf } from './hours.ts';
import { type Grid, MAX_GAP_MS, medianStep, resampleGrid, type Sample, sortByTime } from './series.ts';

/** The grid the analysis works on, ms: one second, finer for a classifier window under 10 s. */
export const GRID_MS = 1000;
/** Most grid points an analysis makes (a 24-day recording at 1 s is 2.1 million). */
const MAX_GRID_POINTS = 4_000_000;

/** The grid step for a window and a recording's span: a tenth of the window, 10 ms to 1 s. */
export function gridFor(windowMs: number, spanMs: number): number {
  const fine = Math.max(10, Math.ceil(spanMs / MAX_GRID_POINTS), Math.round(windowMs / 10));
  return Math.min(GRID_MS, fine);
}
/** Width of one histogram bin: 20 bins per decade (a 12 % step in value). */
export const BIN_DECADES = 0.05;
/** Gaussian smoothing of the histogram, in bins: merges the teeth of a noisy level into one peak. */
export const SMOOTH_SIGMA_BINS = 1;
/** A valley separates two levels only if its density is at most this share of the lower peak. */
export const VALLEY_RATIO = 0.5;
/** A recording shorter than this many minimum dwells (and 30 grid steps) cannot show a level. */
export const MIN_DWELLS = 3;
/** Smallest and largest hysteresis suggested (the config allows up to 0.9). */
export const MIN_HYSTERESIS = 0.05;
export const MAX_HYSTERESIS = 0.5;
/** Levels whose medians are at most this many meter steps apart are one level (dither). */
export const QUANTUM_STEPS = 2;
/**
 * A level that draws no more than this is read as off: no draw, a soft-off, a display or network
 * standby of a few watts. The technician can count it as powered (`poweredFrom`).
 */
export const OFF_CEILING: Record<string, number> = { W: 8, kW: 0.008, A: 0.035, mA: 35 };
/** For other signals: off when at most this share of the highest level. */
export const OFF_SHARE = 0.01;
/** A single powered level below running is `idle` (ready) from this share of the running level up. */
export const IDLE_SHARE = 0.1;
/** A running level whose top is this many times its bottom is not one steady draw. */
export const WIDE_RATIO = 4;
/** …and its running hours are unsettled when a threshold inside it changes them by more than this. */
export const UNSETTLED_SHARE = 0.2;
/** A level is flagged as a possible transient when its longest stretch is under this many minimum dwells. */
export const TRANSIENT_DWELLS = 3;
/** Most levels reported; beyond it the shallowest valleys are merged. */
export const MAX_LEVELS = 8;

export type Role = 'off' | 'standby' | 'idle' | 'running';

/** A level: where the aggregate stayed at least the minimum dwell. Values are of the aggregate. */
export interface Level {
  /** 1-based, lowest first: what `runningFrom` and the report refer to. */
  n: number;
  low: number;
  median: number;
  high: number;
  /** Mean (time-weighted). */
  mean: number;
  /** Hours spent at this level in stretches of at least the minimum dwell. */
  hours: number;
  /** Share of the recorded time, 0..1. */
  share: number;
  /** Stretches of at least the minimum dwell, and the longest, ms. */
  stretches: number;
  longestMs: number;
  /** A few watts or less (OFF_CEILING): read as off unless chosen otherwise. */
  offLike: boolean;
  /** Its longest stretch is under TRANSIENT_DWELLS minimum dwells: it may be a transient. */
  brief: boolean;
}

/** Bumps above the highest level, shorter than the dwell: not a state. */
export interface Transient {
  /** The lowest aggregate in the bumps (where they start to count). */
  low: number;
  /** The highest reading in them. */
  high: number;
  /** How many times, and the longest, ms. */
  count: number;
  longestMs: number;
  hours: number;
}

export interface HistogramBin {
  /** Value range of the bin (lower edge clamped at 0). */
  from: number;
  to: number;
  /** Hours the aggregate spent in it. */
  hours: number;
}

export type Verdict = 'too_few_samples' | 'one_level' | 'no_powered_level' | 'levels';

/** Which level starts running (or powered): its number, or a value that level reaches. */
export type LevelChoice = { level: number } | { value: number };

export interface Suggestion {
  /** Level numbers where powered and running start. */
  poweredFrom: number;
  runningFrom: number;
  /** The role of each level, in level order. */
  roles: Role[];
  thresholds: SignalThresholds;
  hysteresis: number;
  /** What the suggested block gives on the recording itself. */
  hours: Hours;
  /** Whether runningFrom was chosen by the caller (else: the highest level). */
  chosen: boolean;
  /**
   * Set when the running level is not one steady draw and the running hours depend on where within
   * it work is taken to start: the suggested threshold and one inside the level, with their hours.
   */
  unsteady?: { at: number; runningHours: number; insideAt: number; insideRunningHours: number };
}

export interface RunningOption {
  level: number;
  poweredHours: number;
  runningHours: number;
}

export interface Calibration {
  signal: string;
  unit: string;
  settings: ClassifierSettings;
  samples: number;
  /** Non-finite values dropped, negative values counted as 0. */
  dropped: number;
  negative: number;
  /** First to last sample, and the part with data (gaps over MAX_GAP_MS left out), ms. */
  spanMs: number;
  coveredMs: number;
  /** Median time between samples, ms. */
  stepMs: number;
  /** The meter's step as estimated from its readings (0 when it reads continuous values). */
  quantum: number;
  verdict: Verdict;
  levels: Level[];
  transients: Transient[];
  /** Present when a state block can be suggested. */
  suggestion?: Suggestion;
  /** For each level that could start running: the hours that choice gives. */
  options: RunningOption[];
  /** Plain sentences: what the levels were read as, and why. */
  explanation: string[];
  /** Plain sentences where the data cannot decide, and what to do. */
  advice: string[];
  histogram: HistogramBin[];
}

export interface AnalyzeOptions {
  signal: string;
  /** The classifier the thresholds will run through; default the agent's (avg, 10 s, 30 s). */
  settings?: Partial<ClassifierSettings>;
  runningFrom?: LevelChoice;
  poweredFrom?: LevelChoice;
}

const H = 3_600_000;

/** Analyses a recording. Pure and total: any samples give a Calibration. */
export function analyzeSeries(input: readonly Sample[], opts: AnalyzeOptions): Calibration {
  const unit = unitOf(opts.signal);
  const settings: ClassifierSettings = { ...DEFAULT_SETTINGS, ...opts.settings };
  let dropped = 0;
  let negative = 0;
  const samples: Sample[] = [];
  for (const s of input) {
    if (!Number.isFinite(s.value) || !Number.isFinite(s.ts)) dropped++;
    else if (s.value < 0) {
      negative++;
      samples.push({ ts: s.ts, value: 0 });
    } else samples.push(s);
  }
  sortByTime(samples);
  const spanMs = samples.length > 1 ? samples[samples.length - 1]!.ts - samples[0]!.ts : 0;
  const g = gridFor(settings.window, spanMs);
  const grid = resampleGrid(samples, g);
  const quantum = quantumOf(grid.v);
  const base = {
    signal: opts.signal,
    unit,
    settings,
    samples: samples.length,
    dropped,
    negative,
    spanMs,
    coveredMs: grid.ts.length * g,
    stepMs: medianStep(samples),
    quantum,
    transients: [] as Transient[],
    options: [] as RunningOption[],
  };
  const dwellMs = Math.max(settings.minDwell, settings.window, 2 * g);
  const minimumMs = Math.max(30 * g, MIN_DWELLS * dwellMs);
  if (grid.ts.length * g < minimumMs || samples.length < 2) {
    return {
      ...base,
      verdict: 'too_few_samples',
      levels: [],
      explanation: [],
      advice: [
        `Only ${samples.length} sample(s) of ${opts.signal} over ${human(spanMs)} were recorded; at least ${human(minimumMs)} of readings are needed (${MIN_DWELLS} minimum dwells), and a full cycle of the instrument (switched off, standing by, measuring) to tell its states apart. Record longer, or check that an input provides ${opts.signal}.`,
      ],
      histogram: [],
    };
  }

  // The aggregate the classifier takes, on the grid, as the time-weighted view of the recording.
  const x = aggregateOf(grid, settings, g);
  const top = quantile(x.v, 0.999);
  const epsilon = Math.max(quantum, top * 1e-3, 1e-9);
  const scale = logScale(x, epsilon, g);
  const histogram = scale
    .bins(x.v)
    .map((hours, i) => ({ from: scale.edge(i), to: scale.edge(i + 1), hours }));

  // Pass 1: bands of the whole histogram; keep the points that dwell in theirs.
  const bands1 = bandsOf(scale, scale.bins(x.v), dwellMs / H);
  const dwelling = dwellPoints(x, bands1, scale, dwellMs, g);
  // Pass 2: bands of the dwelling points only (transitions and transients no longer fill the valleys).
  const dwellHist = scale.bins(x.v, dwelling);
  const bands2 = bandsOf(scale, dwellHist, dwellMs / H);
  let levels = levelsOf(x, bands2, scale, dwellMs, settings.window, g);
  const transients = transientsOf(x, grid, levels, dwellMs, g, settings.window);
  const notes: string[] = [];
  levels = mergeClose(levels, quantum, notes, unit);
  const totalMs = x.ts.length * g;
  const finished = levels.map((l, i) => finish(l, i, totalMs, unit, levels, dwellMs));

  const result = { ...base, transients, histogram, levels: finished };
  const powered = finished.filter((l) => !l.offLike);
  if (powered.length === 0) {
    let highest = 0;
    for (const v of x.v) if (v > highest) highest = v;
    return {
      ...result,
      verdict: 'no_powered_level',
      explanation: notes,
      advice: [
        `${opts.signal} never stayed above a few ${unit || 'units'} (at most ${fmt(highest, unit)}): the instrument was off, unplugged or idle at a negligible draw the whole time, so no threshold can be told from this recording.`,
        'Record again while the instrument is switched on and used (a whole cycle: off, standing by, measuring), or set the thresholds from its data sheet.',
      ],
    };
  }
  if (finished.length === 1) {
    const l = finished[0]!;
    return {
      ...result,
      verdict: 'one_level',
      explanation: notes,
      advice: [
        `${opts.signal} stayed at one level for the whole recording (${range(l, unit)} for ${hoursText(l.hours)}): the instrument did not change state, so no threshold can be told from this recording.`,
        'Record again across a full cycle (switched off or standing by, and measuring), or set the thresholds from the instrument’s data sheet.',
      ],
    };
  }

  const calibration: Calibration = {
    ...result,
    verdict: 'levels',
    explanation: notes,
    advice: [],
  };
  const suggestion = suggest(calibration, samples, opts.runningFrom, opts.poweredFrom);
  calibration.suggestion = suggestion;
  calibration.options = runningOptions(calibration, samples, suggestion);
  calibration.explanation = [...notes, ...explain(calibration, suggestion)];
  calibration.advice = adviseOn(calibration, suggestion);
  return calibration;
}

/**
 * The suggestion for another choice of running (and powered) levels, on the same recording: what
 * an interactive choice or `--running-from` gives. Pure; `samples` is the recording analysed.
 */
export function chooseLevels(
  c: Calibration,
  samples: readonly Sample[],
  runningFrom?: LevelChoice,
  poweredFrom?: LevelChoice,
): Calibration {
  if (c.verdict !== 'levels') return c;
  const clean = samples
    .filter((s) => Number.isFinite(s.value))
    .map((s) => (s.value < 0 ? { ...s, value: 0 } : s));
  sortByTime(clean);
  const suggestion = suggest(c, clean, runningFrom, poweredFrom);
  const out: Calibration = { ...c, suggestion };
  out.explanation = [...c.explanation.filter((l) => l.startsWith('(')), ...explain(out, suggestion)];
  out.advice = adviseOn(out, suggestion);
  return out;
}

/**
 * The level a choice names: its number; or for a value, the level it lies in (then the threshold
 * is that value) or else the lowest level above it. An error text when there is none.
 */
export function resolveChoice(
  levels: readonly Level[],
  choice: LevelChoice,
  unit: string,
): { level: Level; at?: number } | string {
  if ('level' in choice) {
    const l = levels.find((x) => x.n === choice.level);
    return l ? { level: l } : `there is no level ${choice.level}: the levels found are 1 to ${levels.length}`;
  }
  const v = choice.value;
  if (!(v > 0)) return `${fmt(v, unit)} is not above zero`;
  const inside = levels.find((x) => x.low < v && v <= x.high);
  if (inside) return { level: inside, at: v };
  const above = levels.find((x) => x.low >= v);
  return above
    ? { level: above }
    : `no level reaches ${fmt(v, unit)}: the highest is ${range(levels[levels.length - 1]!, unit)}`;
}

/** The lowest level that reaches `value` (its top at or above it): a running choice by power. */
export function levelReaching(levels: readonly Level[], value: number): number | undefined {
  return levels.find((l) => l.high >= value)?.n;
}

// --- levels ---------------------------------------------------------------------------------------

interface Band {
  /** Bin range [from, to). */
  from: number;
  to: number;
}

interface RawLevel {
  /** Values of the aggregate inside the level's stretches. */
  points: number[];
  /** Time in the stretches, ms. */
  ms: number;
  /** Stretches of at least the dwell, and the longest, ms. */
  stretches: number;
  longestMs: number;
}

interface Scale {
  lo: number;
  n: number;
  binOf(v: number): number;
  edge(i: number): number;
  /** Hours per bin of `values` (each a grid step), only where `mask` is set when given. */
  bins(values: Float64Array, mask?: Uint8Array): number[];
}

function logScale(x: Grid, epsilon: number, g: number): Scale {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of x.v) {
    const l = Math.log10(v + epsilon);
    if (l < min) min = l;
    if (l > max) max = l;
  }
  const lo = Math.floor(min / BIN_DECADES) * BIN_DECADES;
  const n = Math.max(1, Math.floor((max - lo) / BIN_DECADES + 1e-9) + 1);
  const binOf = (v: number) =>
    Math.max(0, Math.min(n - 1, Math.floor((Math.log10(v + epsilon) - lo) / BIN_DECADES + 1e-9)));
  return {
    lo,
    n,
    binOf,
    edge: (i) => Math.max(0, 10 ** (lo + i * BIN_DECADES) - epsilon),
    bins(values, mask) {
      const h = new Array<number>(n).fill(0);
      for (let i = 0; i < values.length; i++) if (!mask || mask[i]) h[binOf(values[i]!)]! += g / H;
      return h;
    },
  };
}

/** The aggregate over the window ending at each grid point (the grid's gaps break the window). */
function aggregateOf(grid: Grid, s: ClassifierSettings, g: number): Grid {
  const { ts, v } = grid;
  const out = new Float64Array(v.length);
  let start = 0;
  let sum = 0;
  // Monotonic deques of indices for min and max.
  const mins: number[] = [];
  const maxs: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (i > 0 && ts[i]! - ts[i - 1]! > g) {
      start = i;
      sum = 0;
      mins.length = 0;
      maxs.length = 0;
    }
    sum += v[i]!;
    while (mins.length > 0 && v[mins[mins.length - 1]!]! >= v[i]!) mins.pop();
    mins.push(i);
    while (maxs.length > 0 && v[maxs[maxs.length - 1]!]! <= v[i]!) maxs.pop();
    maxs.push(i);
    while (start < i && ts[start]! <= ts[i]! - s.window) {
      sum -= v[start]!;
      start++;
    }
    while (mins[0]! < start) mins.shift();
    while (maxs[0]! < start) maxs.shift();
    const value =
      s.aggregate === 'min' ? v[mins[0]!]! : s.aggregate === 'max' ? v[maxs[0]!]! : sum / (i - start + 1);
    out[i] = Math.max(0, value);
  }
  return { ts, v: out };
}

/** Segments of a histogram between its valleys, with shallow valleys and light segments merged. */
function bandsOf(scale: Scale, hist: number[], minMass: number): Band[] {
  const smooth = smoothed(hist, SMOOTH_SIGMA_BINS);
  let valleys = localMinima(smooth);
  for (;;) {
    const edges = [0, ...valleys, scale.n];
    const peaks: number[] = [];
    const masses: number[] = [];
    for (let s = 0; s + 1 < edges.length; s++) {
      let peak = 0;
      let mass = 0;
      for (let i = edges[s]!; i < edges[s + 1]!; i++) {
        peak = Math.max(peak, smooth[i]!);
        mass += hist[i]!;
      }
      peaks.push(peak);
      masses.push(mass);
    }
    if (valleys.length === 0) break;
    const ratios = valleys.map((v, k) => smooth[v]! / Math.max(1e-12, Math.min(peaks[k]!, peaks[k + 1]!)));
    // A segment lighter than one dwell cannot hold a level; it goes to its heavier neighbour.
    let drop = -1;
    const light = masses.findIndex((m) => m < minMass);
    if (light >= 0) {
      if (light === 0) drop = 0;
      else if (light === masses.length - 1) drop = valleys.length - 1;
      else drop = ratios[light - 1]! >= ratios[light]! ? light - 1 : light;
    } else {
      let worst = 0;
      for (let k = 1; k < ratios.length; k++) if (ratios[k]! > ratios[worst]!) worst = k;
      if (ratios[worst]! > VALLEY_RATIO || valleys.length + 1 > MAX_LEVELS) drop = worst;
    }
    if (drop < 0) break;
    valleys = valleys.filter((_, k) => k !== drop);
  }
  const edges = [0, ...valleys, scale.n];
  const bands: Band[] = [];
  for (let s = 0; s + 1 < edges.length; s++) bands.push({ from: edges[s]!, to: edges[s + 1]! });
  return bands;
}

/** For each band, the runs of consecutive grid points in it; calls `each` for runs of at least `dwellMs`. */
function runsIn(
  x: Grid,
  inBand: (i: number) => number,
  dwellMs: number,
  each: (band: number, from: number, to: number) => void,
  g: number,
): void {
  const n = x.ts.length;
  let i = 0;
  while (i < n) {
    const b = inBand(i);
    let j = i + 1;
    while (j < n && inBand(j) === b && x.ts[j]! - x.ts[j - 1]! === g) j++;
    if ((j - i) * g >= dwellMs) each(b, i, j);
    i = j;
  }
}

/** The band of each point. */
function bandsOfPoints(x: Grid, bands: readonly Band[], scale: Scale): Uint8Array {
  const out = new Uint8Array(x.v.length);
  for (let i = 0; i < x.v.length; i++) out[i] = bandIndex(bands, scale.binOf(x.v[i]!));
  return out;
}

function bandIndex(bands: readonly Band[], bin: number): number {
  for (let k = 0; k < bands.length; k++) if (bin < bands[k]!.to) return k;
  return bands.length - 1;
}

function dwellPoints(x: Grid, bands: readonly Band[], scale: Scale, dwellMs: number, g: number): Uint8Array {
  const bandOf = bandsOfPoints(x, bands, scale);
  const out = new Uint8Array(x.v.length);
  runsIn(
    x,
    (i) => bandOf[i]!,
    dwellMs,
    (_, from, to) => {
      out.fill(1, from, to);
    },
    g,
  );
  return out;
}

/**
 * The levels: bands in which the aggregate stayed at least `dwellMs`. A level's values are taken
 * from the inside of its stretches: the first and last window of each are the aggregate still
 * ramping from or to the neighbouring level, not the level.
 */
function levelsOf(
  x: Grid,
  bands: readonly Band[],
  scale: Scale,
  dwellMs: number,
  windowMs: number,
  g: number,
): RawLevel[] {
  const bandOf = bandsOfPoints(x, bands, scale);
  const raw: RawLevel[] = bands.map(() => ({ points: [], ms: 0, stretches: 0, longestMs: 0 }));
  const ramp = Math.round(windowMs / g);
  runsIn(
    x,
    (i) => bandOf[i]!,
    dwellMs,
    (b, from, to) => {
      const l = raw[b]!;
      const inner =
        to - from > 2 * ramp
          ? [from + ramp, to - ramp]
          : [Math.floor((from + to) / 2), Math.floor((from + to) / 2) + 1];
      for (let i = inner[0]!; i < inner[1]!; i++) l.points.push(x.v[i]!);
      l.stretches++;
      l.ms += (to - from) * g;
      l.longestMs = Math.max(l.longestMs, (to - from) * g);
    },
    g,
  );
  return raw.filter((l) => l.stretches > 0);
}

/**
 * What rose above the highest level without dwelling there: start-up peaks, inrush, switching. The
 * aggregate's excursions above the top level shorter than the dwell, with the highest reading in
 * them. (Passages between two levels are transitions: expected, and not worth a line.)
 */
function transientsOf(
  x: Grid,
  grid: Grid,
  levels: readonly RawLevel[],
  dwellMs: number,
  g: number,
  windowMs: number,
): Transient[] {
  if (levels.length === 0) return [];
  const top = [...levels[levels.length - 1]!.points].sort((a, b) => a - b);
  const ceiling = q(top, 0.99) * 1.1;
  const out: Transient = { low: Number.POSITIVE_INFINITY, high: 0, count: 0, longestMs: 0, hours: 0 };
  const n = x.v.length;
  let i = 0;
  while (i < n) {
    if (x.v[i]! <= ceiling) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && x.v[j]! > ceiling && x.ts[j]! - x.ts[j - 1]! === g) j++;
    const length = (j - i) * g;
    if (length < dwellMs) {
      out.count++;
      out.longestMs = Math.max(out.longestMs, length);
      out.hours += length / H;
      // The readings behind the bump: from a window before it to its end.
      for (let k = Math.max(0, i - Math.round(windowMs / g)); k < j; k++)
        out.high = Math.max(out.high, grid.v[k]!);
      for (let k = i; k < j; k++) out.low = Math.min(out.low, x.v[k]!);
    }
    i = j;
  }
  return out.count > 0 ? [out] : [];
}

/**
 * Merges neighbouring levels that are one level in fact: a meter's dither (medians at most
 * QUANTUM_STEPS steps apart), or levels whose aggregates overlap so that no threshold with the
 * smallest hysteresis fits between them.
 */
function mergeClose(levels: RawLevel[], quantum: number, notes: string[], unit: string): RawLevel[] {
  const stats = (l: RawLevel) => {
    const sorted = [...l.points].sort((a, b) => a - b);
    return { low: q(sorted, 0.01), median: q(sorted, 0.5), high: q(sorted, 0.99) };
  };
  const out = levels.map((l) => ({ ...l, points: [...l.points] }));
  let quantised = false;
  let k = 0;
  while (k + 1 < out.length) {
    const a = stats(out[k]!);
    const b = stats(out[k + 1]!);
    const dither = quantum > 0 && b.median - a.median <= QUANTUM_STEPS * quantum + 1e-9;
    const overlap = roomFor(a.high, b.low, quantum) < MIN_HYSTERESIS;
    if (dither || overlap) {
      if (dither) quantised = true;
      else
        notes.push(
          `(Levels about ${fmt(a.median, unit)} and ${fmt(b.median, unit)} overlap once averaged over the window, so they are read as one level: no threshold between them would hold.)`,
        );
      const m = out[k]!;
      const n = out[k + 1]!;
      out.splice(k, 2, {
        points: [...m.points, ...n.points],
        ms: m.ms + n.ms,
        stretches: m.stretches + n.stretches,
        longestMs: Math.max(m.longestMs, n.longestMs),
      });
      k = Math.max(0, k - 1);
    } else k++;
  }
  const dithering = out.some((l) => {
    const st = stats(l);
    return quantum > 0 && st.high > st.low && st.high - st.low <= QUANTUM_STEPS * quantum + 1e-9;
  });
  if (quantised || dithering)
    notes.push(
      `(The meter reads in steps of ${fmt(quantum, unit)}: readings alternating between neighbouring steps are one level, and no threshold is placed between them.)`,
    );
  return out;
}

/** The hysteresis a boundary between a level topping at `high` and one starting at `low` allows. */
function roomFor(high: number, low: number, quantum: number): number {
  const c = Math.max(high, quantum, 1e-9);
  if (low <= c) return 0;
  return 0.5 * (1 - 1 / Math.sqrt(low / c));
}

function finish(
  l: RawLevel,
  i: number,
  totalMs: number,
  unit: string,
  all: readonly RawLevel[],
  dwellMs: number,
): Level {
  const sorted = [...l.points].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  const topMedian = q(
    [...all[all.length - 1]!.points].sort((a, b) => a - b),
    0.5,
  );
  const ceiling = OFF_CEILING[unit];
  const offLike = ceiling !== undefined ? mean <= ceiling : mean <= OFF_SHARE * topMedian;
  return {
    n: i + 1,
    low: q(sorted, 0.01),
    median: q(sorted, 0.5),
    high: q(sorted, 0.99),
    mean,
    hours: l.ms / H,
    share: l.ms / totalMs,
    stretches: l.stretches,
    longestMs: l.longestMs,
    offLike,
    brief: l.longestMs < TRANSIENT_DWELLS * dwellMs,
  };
}

// --- thresholds -----------------------------------------------------------------------------------

function suggest(
  c: Calibration,
  samples: readonly Sample[],
  runningChoice?: LevelChoice,
  poweredChoice?: LevelChoice,
): Suggestion {
  const levels = c.levels;
  const firstPowered = levels.find((l) => !l.offLike) ?? levels[levels.length - 1]!;
  let poweredFrom = firstPowered.n;
  let poweredAt: number | undefined;
  if (poweredChoice) {
    const r = resolveChoice(levels, poweredChoice, c.unit);
    if (typeof r !== 'string') {
      poweredFrom = r.level.n;
      poweredAt = r.at;
    }
  }
  let runningFrom = levels[levels.length - 1]!.n;
  let runningAt: number | undefined;
  let chosen = false;
  if (runningChoice) {
    const r = resolveChoice(levels, runningChoice, c.unit);
    if (typeof r !== 'string') {
      runningFrom = r.level.n;
      runningAt = r.at;
      chosen = true;
    }
  }
  if (runningFrom < poweredFrom || (runningFrom === poweredFrom && runningAt === undefined)) {
    runningFrom = poweredFrom;
    runningAt = poweredAt;
  }
  const roles: Role[] = levels.map((l) =>
    l.n < poweredFrom ? 'off' : l.n >= runningFrom ? 'running' : 'standby',
  );
  // Between powered and running: the highest such level is idle when it draws at least IDLE_SHARE
  // of the running level, or when there are two or more such levels.
  const middle = levels.filter((l) => l.n >= poweredFrom && l.n < runningFrom);
  const runningLevel = levels[runningFrom - 1]!;
  let idleFrom = runningFrom;
  if (middle.length >= 2) idleFrom = middle[middle.length - 1]!.n;
  else if (middle.length === 1 && middle[0]!.median >= IDLE_SHARE * runningLevel.median)
    idleFrom = middle[0]!.n;
  for (const l of levels) if (l.n >= idleFrom && l.n < runningFrom) roles[l.n - 1] = 'idle';

  // The meter's noise floor: its step, or a thousandth of the highest level.
  const floor = Math.max(c.quantum, 1e-3 * levels[levels.length - 1]!.median, 1e-9);
  // Each boundary has room between the top of the level below and the bottom of the level above;
  // the hysteresis is half the room there (at their geometric middle), the smallest over the
  // boundaries used, so that neither level's noise, nor the meter's steps, flip the state.
  const roomAt = (n: number) =>
    n === 1 ? MAX_HYSTERESIS : roomFor(Math.max(levels[n - 2]!.high, floor), levels[n - 1]!.low, floor);
  const starts = [poweredFrom, idleFrom, runningFrom];
  const hysteresis = Math.max(
    MIN_HYSTERESIS,
    Math.min(MAX_HYSTERESIS, Math.floor(Math.min(...starts.map(roomAt)) * 100) / 100),
  );
  const within = (n: number) => {
    const above = levels[n - 1]!;
    const belowTop = n === 1 ? 0 : Math.max(levels[n - 2]!.high, floor);
    return { min: belowTop / (1 - hysteresis), max: above.low / (1 + hysteresis) };
  };
  // Where powered starts: just clear of what is below (twice its top, and at least the signal's
  // few-watts ceiling), so any real draw counts as powered. With nothing recorded below, half the
  // lowest level.
  const poweredValue = () => {
    if (poweredAt !== undefined) return poweredAt;
    const n = poweredFrom;
    const { min, max } = within(n);
    if (n === 1) return niceBetween(levels[0]!.low / 2, 0, max);
    const target = Math.max(2 * Math.max(levels[n - 2]!.high, floor), OFF_CEILING[c.unit] ?? 0);
    return niceBetween(Math.min(max, Math.max(min, target)), min, max);
  };
  // Between two powered levels: as near as the hysteresis allows to the arithmetic middle of the
  // two. The aggregate over the window ramps linearly from one level to the other, and crossing
  // the ramp's middle both ways keeps each stretch's classified duration equal to its real one.
  const middleValue = (n: number) => {
    const { min, max } = within(n);
    const target = (levels[n - 2]!.median + levels[n - 1]!.median) / 2;
    return niceBetween(Math.min(max, Math.max(min, target)), min, max);
  };
  const standby = poweredValue();
  const running =
    runningAt !== undefined ? runningAt : runningFrom === poweredFrom ? standby : middleValue(runningFrom);
  const idle =
    idleFrom === runningFrom ? running : idleFrom === poweredFrom ? standby : middleValue(idleFrom);
  const thresholds = { standby, idle: Math.max(standby, idle), running: Math.max(standby, idle, running) };
  const settings = { ...c.settings, hysteresis };
  const hours = hoursOf(samples, thresholds, settings);
  const suggestion: Suggestion = { poweredFrom, runningFrom, roles, thresholds, hysteresis, hours, chosen };
  // A running level spread over a wide range (a heater switching, a pump, a grinder) may be partly
  // work and partly not: compare with a threshold in its middle (log scale).
  if (runningAt === undefined && runningLevel.high >= WIDE_RATIO * Math.max(runningLevel.low, floor)) {
    const insideAt = niceBetween(
      Math.sqrt(runningLevel.low * runningLevel.high),
      thresholds.running,
      runningLevel.high,
    );
    const inside = hoursOf(samples, { ...thresholds, running: insideAt }, settings);
    const diff = Math.abs(inside.runningHours - hours.runningHours);
    if (diff > Math.max(UNSETTLED_SHARE * hours.runningHours, 0.1))
      suggestion.unsteady = {
        at: thresholds.running,
        runningHours: hours.runningHours,
        insideAt,
        insideRunningHours: inside.runningHours,
      };
  }
  return suggestion;
}

/**
 * A threshold near `at`, with as few significant digits as keep it strictly above `min` and at or
 * below `max` (where the hysteresis still fits): set by eye, not to the milliwatt.
 */
export function niceBetween(at: number, min: number, max: number): number {
  for (let digits = 2; digits <= 6; digits++) {
    const unit = 10 ** (Math.floor(Math.log10(Math.abs(at) || 1)) - digits + 1);
    const candidates = [Math.round(at / unit), Math.floor(at / unit), Math.ceil(at / unit)].map((k) =>
      Number((k * unit).toPrecision(digits)),
    );
    const ok = candidates.filter((v) => v > min && v <= max && v > 0);
    if (ok.length > 0) return ok.reduce((a, b) => (Math.abs(b - at) < Math.abs(a - at) ? b : a));
  }
  return at > 0 ? at : Math.max(min * 1.01, Number.MIN_VALUE);
}

function runningOptions(c: Calibration, samples: readonly Sample[], s: Suggestion): RunningOption[] {
  const out: RunningOption[] = [];
  for (const l of c.levels) {
    if (l.n < s.poweredFrom) continue;
    const alt = l.n === s.runningFrom ? s : suggest(c, samples, { level: l.n }, { level: s.poweredFrom });
    out.push({ level: l.n, poweredHours: alt.hours.poweredHours, runningHours: alt.hours.runningHours });
  }
  return out;
}

// --- words ----------------------------------------------------------------------------------------

function explain(c: Calibration, s: Suggestion): string[] {
  const u = c.unit;
  const lines: string[] = [];
  const names = c.levels.map((l) => `${l.n} ${s.roles[l.n - 1]}`);
  lines.push(`Read as: ${names.join(', ')}.`);
  const offs = c.levels.filter((l) => s.roles[l.n - 1] === 'off');
  if (offs.length === 0)
    lines.push(
      `No off level was recorded: standby starts at ${fmt(s.thresholds.standby, u)}, under the lowest level, so anything below counts as off.`,
    );
  else if (offs.some((l) => l.offLike))
    lines.push(
      `A draw of a few ${u || 'units'} (${offs.map((l) => range(l, u)).join(', ')}) is off: no use, a soft-off, a display or network standby.${s.poweredFrom === c.levels.find((l) => !l.offLike)?.n ? '' : ''}`,
    );
  for (const t of c.transients)
    lines.push(
      `Not a level: peaks up to ${fmt(t.high, u)} above the highest level, ${t.count} time${t.count === 1 ? '' : 's'}, never longer than ${human(t.longestMs)} (averaged over ${human(c.settings.window)}): shorter than the minimum dwell (${human(c.settings.minDwell)}), so start-up peaks or switching, not a state.`,
    );
  lines.push(
    `Powered starts just clear of what is below it (twice its top${OFF_CEILING[u] ? `, at least ${fmt(OFF_CEILING[u]!, u)}` : ''}); a threshold between two powered levels sits at their middle, where each stretch is classified for as long as it lasted. Hysteresis ${s.hysteresis} is half the room between neighbouring levels: neither a level's own noise nor the meter's steps can flip the state.`,
  );
  return lines;
}

function adviseOn(c: Calibration, s: Suggestion): string[] {
  const u = c.unit;
  const out: string[] = [];
  const powered = c.levels.filter((l) => l.n >= s.poweredFrom);
  if (powered.length >= 2 && !s.chosen) {
    const alts = c.options
      .filter((o) => o.level !== s.runningFrom)
      .map((o) => `from level ${o.level}: ${hoursText(o.runningHours)}`)
      .join('; ');
    out.push(
      `Which levels are work cannot be told from power alone. This suggestion counts level ${s.runningFrom} (${range(c.levels[s.runningFrom - 1]!, u)}) and up as running: ${hoursText(s.hours.runningHours)}${alts ? ` (${alts})` : ''}. If another level is work too, choose it with --running-from N.`,
    );
  }
  const run = c.levels[s.runningFrom - 1]!;
  if (run.brief)
    out.push(
      `Level ${run.n} (${range(run, u)}) lasted at most ${human(run.longestMs)} at a time (${run.stretches} time${run.stretches === 1 ? '' : 's'}): close to the minimum dwell (${human(c.settings.minDwell)}). If it was a self-test or a pump start rather than work, record a longer session with real measurements and calibrate again.`,
    );
  const offLikePowered = c.levels.filter((l) => l.offLike && l.n >= s.poweredFrom);
  if (offLikePowered.length > 0)
    out.push(
      `Level ${offLikePowered.map((l) => l.n).join(', ')} draws only a few ${u || 'units'} but is counted as powered, as chosen.`,
    );
  // The highest level read as off draws a little: it may be a standby worth counting.
  const offs = c.levels.filter((l) => l.offLike && l.n < s.poweredFrom);
  const top = offs[offs.length - 1];
  if (top && top.median >= Math.max(2 * c.quantum, 0.25 * (OFF_CEILING[u] ?? 0)) && top.median > 0)
    out.push(
      `Level ${top.n} (${range(top, u)}) is counted as off, as any draw of a few ${u || 'units'} is. If the instrument is in fact standing by there, use --powered-from ${top.n}.`,
    );
  return out;
}

// --- numbers --------------------------------------------------------------------------------------

/** Seconds a reading must be held, in all, to count as one of the meter's steps. */
const STEP_SECONDS = 10;

/**
 * The meter's reading step on the grid: the typical smallest difference between the values it
 * held for a while (STEP_SECONDS in all). Rare values (averages of two readings in one second)
 * do not count; a meter reading continuous values holds no value that long, and has no step (0).
 */
export function quantumOf(values: ArrayLike<number>): number {
  const held = new Map<number, number>();
  for (let i = 0; i < values.length; i++) held.set(values[i]!, (held.get(values[i]!) ?? 0) + 1);
  const distinct = [...held].filter(([, n]) => n >= STEP_SECONDS).map(([v]) => v);
  distinct.sort((a, b) => a - b);
  if (distinct.length < 3) return 0;
  const diffs: number[] = [];
  for (let i = 0; i + 1 < distinct.length; i++) diffs.push(distinct[i + 1]! - distinct[i]!);
  diffs.sort((a, b) => a - b);
  return diffs[Math.floor(diffs.length * 0.1)]!;
}

function q(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]!;
}

function quantile(values: Float64Array, p: number): number {
  // A typed copy sorts numerically, in place, without boxing two million numbers.
  return q(Float64Array.from(values).sort(), p);
}

function smoothed(counts: number[], sigma: number): number[] {
  const radius = Math.ceil(sigma * 3);
  const kernel: number[] = [];
  for (let k = -radius; k <= radius; k++) kernel.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
  return counts.map((_, i) => {
    let s = 0;
    for (let k = -radius; k <= radius; k++) {
      const c = counts[i + k];
      if (c !== undefined) s += c * kernel[k + radius]!;
    }
    return s;
  });
}

/** Indices of local minima between two higher points; a flat bottom gives its middle. */
function localMinima(h: number[]): number[] {
  const out: number[] = [];
  let i = 1;
  while (i < h.length - 1) {
    if (h[i]! < h[i - 1]!) {
      let j = i;
      while (j + 1 < h.length && h[j + 1] === h[i]) j++;
      if (j + 1 < h.length && h[j + 1]! > h[i]!) out.push(Math.floor((i + j + 1) / 2));
      i = j + 1;
    } else i++;
  }
  return out;
}

/** Unit shown after values: the SPEC metric suffix (power_w → W). */
export function unitOf(signal: string): string {
  const suffix = signal.slice(signal.lastIndexOf('_') + 1);
  const units: Record<string, string> = {
    w: 'W',
    a: 'A',
    v: 'V',
    kwh: 'kWh',
    c: '°C',
    hz: 'Hz',
    va: 'VA',
    kw: 'kW',
  };
  return signal.includes('_') ? (units[suffix] ?? suffix) : '';
}

/** A value with 2–3 significant digits and an SI prefix: `0 W`, `2.1 W`, `1.38 kW`, `15 mA`. */
export function fmt(value: number, unit: string): string {
  if (value === 0) return `0 ${unit}`.trim();
  const a = Math.abs(value);
  const [scale, prefix] =
    a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : a >= 1 || unit === '' ? [1, ''] : [1e-3, 'm'];
  const v = value / scale;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  const rounded = Number(v.toFixed(digits));
  // A value too small for its digits still is not zero.
  const text = rounded === 0 ? Number(v.toPrecision(2)).toString() : rounded.toString();
  return `${text} ${prefix}${unit}`.trim();
}

/** Where a level lies: `150 W to 210 W`, or `about 2 W` when narrow. */
export function range(l: Pick<Level, 'low' | 'high' | 'median'>, unit: string): string {
  const lo = fmt(l.low, unit);
  const hi = fmt(l.high, unit);
  return lo === hi ? `about ${fmt(l.median, unit)}` : `${lo} to ${hi}`;
}

/** Two significant digits: thresholds are set by eye, not to the milliwatt. */
export function roundThreshold(v: number): number {
  return v > 0 ? Number(v.toPrecision(2)) : 0;
}

export function hoursText(h: number): string {
  if (h === 0) return '0 h';
  if (h < 1 / 60) return `${Math.round(h * 3600)} s`;
  return h < 0.1 ? `${(h * 60).toFixed(1)} min` : `${h.toFixed(2)} h`;
}

/** A duration as a technician reads it: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`. */
export function human(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

export { MAX_GAP_MS };
