/**
 * Threshold calibration, the pure part: from recorded values of one signal (power_w, current_a…)
 * find the clusters of its logarithm and suggest SPEC thresholds `standby`, `idle`, `running`.
 *
 * Why the logarithm: an instrument's levels are spread over decades (0 W unplugged, 2 W standby,
 * 150 W idle, 1.4 kW running) and each level's noise grows with it, so on a log axis every level is
 * a peak of similar width. Why valleys rather than k-means: the number of levels is not known in
 * advance, and a valley of the histogram is something a technician can see and check on the
 * printed histogram.
 *
 * Method: a histogram of log10(value + ε) in bins of BIN_DECADES, lightly smoothed; the segments
 * between local minima are candidate clusters; the shallowest valley is removed (its two segments
 * merged) while it is not deep enough or while a segment holds too few samples, then while there
 * are more clusters than SPEC has states. Each remaining valley gives a boundary at the middle of
 * its low-density stretch, so a reading jittering at either cluster's edge stays on its side.
 */
import type { SignalThresholds } from '@dayi/protocols';

/** Width of one histogram bin: 20 bins per decade (a 12 % step in value). */
export const BIN_DECADES = 0.05;
/** Gaussian smoothing of the histogram, in bins: merges the teeth of a noisy level into one peak. */
export const SMOOTH_SIGMA_BINS = 1.5;
/** A valley separates two clusters only if its density is at most this share of the lower peak. */
export const VALLEY_RATIO = 0.5;
/** A cluster needs at least this many samples… */
export const MIN_CLUSTER_SAMPLES = 5;
/** …and this share of all samples (a coffee machine brews 0.1 % of the day: keep this small). */
export const MIN_CLUSTER_SHARE = 0.0005;
/** Fewer samples than this cannot show a distribution. */
export const MIN_SAMPLES = 30;
/** ε = this × the largest value: zero maps four decades below the top instead of to -∞. */
export const EPSILON_FRACTION = 1e-4;
/** The lowest cluster counts as `off` when its median is at most this share of the highest. */
export const OFF_SHARE = 0.01;
/** A middle cluster at least this share of the running level is `idle` (ready), else `standby`. */
export const IDLE_SHARE = 0.1;

export type ClusterLabel = 'off' | 'standby' | 'idle' | 'running';

export interface Cluster {
  label: ClusterLabel;
  samples: number;
  /** Share of all samples, 0..1. */
  share: number;
  min: number;
  p5: number;
  median: number;
  p95: number;
  max: number;
}

export interface HistogramBin {
  /** Value range of the bin (lower edge clamped at 0). */
  from: number;
  to: number;
  count: number;
}

export type Verdict = 'too_few_samples' | 'one_cluster' | 'two_clusters' | 'clusters';

export interface Calibration {
  signal: string;
  samples: number;
  /** Non-finite values dropped, negative values counted as 0. */
  dropped: number;
  negative: number;
  epsilon: number;
  verdict: Verdict;
  /** Lowest first. */
  clusters: Cluster[];
  /** Between consecutive clusters, rising; length clusters.length - 1. */
  boundaries: number[];
  /** Absent when nothing definite can be suggested (too few samples, one cluster). */
  thresholds?: SignalThresholds;
  /** Plain sentences for the technician: which cluster is which and why the thresholds are where. */
  explanation: string[];
  histogram: HistogramBin[];
}

export interface AnalyzeOptions {
  signal: string;
}

/** Analyses recorded values of one signal. Pure and total: any array gives a Calibration. */
export function analyzeSignal(values: readonly number[], opts: AnalyzeOptions): Calibration {
  const unit = unitOf(opts.signal);
  let dropped = 0;
  let negative = 0;
  const vs: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v)) dropped++;
    else if (v < 0) {
      negative++;
      vs.push(0);
    } else vs.push(v);
  }
  vs.sort((a, b) => a - b);
  const max = vs.length > 0 ? vs[vs.length - 1]! : 0;
  // All zeros: any positive ε works; 1 keeps the arithmetic plain.
  const epsilon = max > 0 ? max * EPSILON_FRACTION : 1;
  const base = { signal: opts.signal, samples: vs.length, dropped, negative, epsilon };

  if (vs.length < MIN_SAMPLES) {
    return {
      ...base,
      verdict: 'too_few_samples',
      clusters: vs.length > 0 ? [describe(vs, 'running', vs.length)] : [],
      boundaries: [],
      explanation: [
        `Only ${vs.length} sample(s) of ${opts.signal} were recorded; at least ${MIN_SAMPLES} are needed to see a distribution. Record longer, or check that an input provides ${opts.signal}.`,
      ],
      histogram: [],
    };
  }

  const logs = vs.map((v) => Math.log10(v + epsilon));
  const lo = Math.floor(logs[0]! / BIN_DECADES) * BIN_DECADES;
  const nBins = Math.max(1, Math.floor((logs[logs.length - 1]! - lo) / BIN_DECADES) + 1);
  const counts = new Array<number>(nBins).fill(0);
  for (const x of logs) counts[Math.min(nBins - 1, Math.floor((x - lo) / BIN_DECADES + 1e-9))]!++;
  const edge = (i: number) => Math.max(0, 10 ** (lo + i * BIN_DECADES) - epsilon);
  const histogram: HistogramBin[] = counts.map((count, i) => ({ from: edge(i), to: edge(i + 1), count }));

  const smooth = smoothed(counts, SMOOTH_SIGMA_BINS);
  const minMass = Math.max(MIN_CLUSTER_SAMPLES, MIN_CLUSTER_SHARE * vs.length);
  let valleys = mergeValleys(localMinima(smooth), smooth, counts, minMass, Number.POSITIVE_INFINITY);
  const boundaryValues = () => valleys.map((_, k) => boundaryOf(valleys, k, smooth, epsilon, lo));
  // SPEC has four levels when an off cluster was recorded, three (standby, idle, running) without.
  const maxClusters = isOffLike(splitAt(vs, boundaryValues())) ? 4 : 3;
  valleys = mergeValleys(valleys, smooth, counts, minMass, maxClusters);
  const boundaries = boundaryValues();
  const clusters = splitAt(vs, boundaries);

  if (clusters.length === 1) {
    const c = clusters[0]!;
    return {
      ...base,
      verdict: 'one_cluster',
      clusters,
      boundaries,
      explanation: [
        `${opts.signal} stayed in one cluster for the whole recording (${spread(c, unit)}): the instrument did not change state, so no threshold can be told from this recording.`,
        'Record again across a full cycle (switched off, standing by, measuring), or set thresholds from the instrument’s data sheet.',
      ],
      histogram,
    };
  }

  const labels = labelsFor(clusters);
  clusters.forEach((c, i) => {
    c.label = labels[i]!;
  });
  const thresholds = thresholdsFor(clusters, boundaries);
  return {
    ...base,
    verdict: clusters.length === 2 ? 'two_clusters' : 'clusters',
    clusters,
    boundaries,
    thresholds,
    explanation: explain(clusters, boundaries, thresholds, opts.signal, unit),
    histogram,
  };
}

/** Unit shown after values: the SPEC metric suffix (power_w → W). */
export function unitOf(signal: string): string {
  const suffix = signal.slice(signal.lastIndexOf('_') + 1);
  const units: Record<string, string> = { w: 'W', a: 'A', v: 'V', kwh: 'kWh', c: '°C', hz: 'Hz', va: 'VA' };
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
  const text = Number(v.toFixed(digits)).toString();
  return `${text} ${prefix}${unit}`.trim();
}

/** Where most of a cluster lies: `1.9 W to 2.3 W, median 2 W`, or `0 W` when it is one value. */
function spread(c: Cluster, unit: string): string {
  const lo = fmt(c.p5, unit);
  const hi = fmt(c.p95, unit);
  const mid = fmt(c.median, unit);
  return lo === hi ? `about ${mid}` : `${lo} to ${hi}, median ${mid}`;
}

/** Two significant digits: thresholds are set by eye, not to the milliwatt. */
export function roundThreshold(v: number): number {
  return v > 0 ? Number(v.toPrecision(2)) : 0;
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

/** Indices of local minima between two higher points; a flat bottom gives its first index. */
function localMinima(h: number[]): number[] {
  const out: number[] = [];
  let i = 1;
  while (i < h.length - 1) {
    if (h[i]! < h[i - 1]!) {
      let j = i;
      while (j + 1 < h.length && h[j + 1] === h[i]) j++;
      if (j + 1 < h.length && h[j + 1]! > h[i]!) out.push(i);
      i = j + 1;
    } else i++;
  }
  return out;
}

interface Segments {
  /** Per segment (valleys.length + 1 of them): highest smoothed density and sample count. */
  peaks: number[];
  masses: number[];
  /** Per valley: its density over the lower of its two neighbouring peaks; near 1 is shallow. */
  ratios: number[];
}

function segmentsOf(valleys: number[], smooth: number[], counts: number[]): Segments {
  const edges = [0, ...valleys, smooth.length];
  const peaks: number[] = [];
  const masses: number[] = [];
  for (let s = 0; s + 1 < edges.length; s++) {
    let peak = 0;
    let mass = 0;
    for (let i = edges[s]!; i < edges[s + 1]!; i++) {
      peak = Math.max(peak, smooth[i]!);
      mass += counts[i]!;
    }
    peaks.push(peak);
    masses.push(mass);
  }
  const ratios = valleys.map((v, k) => smooth[v]! / Math.max(1e-12, Math.min(peaks[k]!, peaks[k + 1]!)));
  return { peaks, masses, ratios };
}

function argmax(xs: number[]): number {
  let best = 0;
  xs.forEach((x, i) => {
    if (x > xs[best]!) best = i;
  });
  return best;
}

/**
 * Removes valleys until the rest are real: first every valley shallower than VALLEY_RATIO
 * (shallowest first), then the shallower side of any segment with fewer than `minMass` samples
 * (a few transition readings between two levels are not a level), then the shallowest while
 * there are more than `maxClusters` segments.
 */
function mergeValleys(
  valleys: number[],
  smooth: number[],
  counts: number[],
  minMass: number,
  maxClusters: number,
): number[] {
  const vs = [...valleys];
  for (;;) {
    if (vs.length === 0) return vs;
    const { masses, ratios } = segmentsOf(vs, smooth, counts);
    const worst = argmax(ratios);
    if (ratios[worst]! > VALLEY_RATIO) {
      vs.splice(worst, 1);
      continue;
    }
    const small = masses.findIndex((m) => m < minMass);
    if (small >= 0) {
      // Segment k lies between valley k-1 and valley k.
      const sides = [small - 1, small].filter((k) => k >= 0 && k < vs.length);
      vs.splice(
        sides.reduce((a, b) => (ratios[a]! >= ratios[b]! ? a : b)),
        1,
      );
      continue;
    }
    if (masses.length > maxClusters) {
      vs.splice(worst, 1);
      continue;
    }
    return vs;
  }
}

/**
 * The boundary at a valley: the middle (on the log axis) of the stretch around it whose density
 * stays near the valley's, so it sits in the emptiest part, away from both clusters' edges.
 */
function boundaryOf(valleys: number[], k: number, smooth: number[], epsilon: number, lo: number): number {
  const valley = valleys[k]!;
  const from = k > 0 ? valleys[k - 1]! : 0;
  const to = k + 1 < valleys.length ? valleys[k + 1]! : smooth.length;
  let leftPeak = valley;
  for (let i = from; i < valley; i++) if (smooth[i]! > smooth[leftPeak]!) leftPeak = i;
  let rightPeak = valley;
  for (let i = valley; i < to; i++) if (smooth[i]! > smooth[rightPeak]!) rightPeak = i;
  const bottom = smooth[valley]!;
  const limit = bottom + 0.1 * (Math.min(smooth[leftPeak]!, smooth[rightPeak]!) - bottom);
  let a = valley;
  while (a - 1 > leftPeak && smooth[a - 1]! <= limit) a--;
  let b = valley;
  while (b + 1 < rightPeak && smooth[b + 1]! <= limit) b++;
  // Bin i covers [lo + i·BIN, lo + (i+1)·BIN): the stretch spans from a's lower to b's upper edge.
  const x = lo + ((a + b + 1) / 2) * BIN_DECADES;
  return 10 ** x - epsilon;
}

function splitAt(sorted: number[], boundaries: number[]): Cluster[] {
  const out: Cluster[] = [];
  let start = 0;
  for (const b of [...boundaries, Number.POSITIVE_INFINITY]) {
    let end = start;
    while (end < sorted.length && sorted[end]! < b) end++;
    if (end > start) out.push(describe(sorted.slice(start, end), 'running', sorted.length));
    start = end;
  }
  return out;
}

function describe(sorted: number[], label: ClusterLabel, total: number): Cluster {
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1) + 0.5))]!;
  return {
    label,
    samples: sorted.length,
    share: sorted.length / total,
    min: sorted[0]!,
    p5: q(0.05),
    median: q(0.5),
    p95: q(0.95),
    max: sorted[sorted.length - 1]!,
  };
}

function isOffLike(clusters: Cluster[]): boolean {
  if (clusters.length < 2) return false;
  return clusters[0]!.median <= OFF_SHARE * clusters[clusters.length - 1]!.median;
}

function labelsFor(clusters: Cluster[]): ClusterLabel[] {
  const top = clusters[clusters.length - 1]!;
  const powered = (c: Cluster): ClusterLabel => (c.median >= IDLE_SHARE * top.median ? 'idle' : 'standby');
  const off = isOffLike(clusters);
  if (off) {
    if (clusters.length === 2) return ['off', 'running'];
    if (clusters.length === 3) return ['off', powered(clusters[1]!), 'running'];
    return ['off', 'standby', 'idle', 'running'];
  }
  if (clusters.length === 2) return [powered(clusters[0]!), 'running'];
  return ['standby', 'idle', 'running'];
}

/**
 * Thresholds from labelled clusters. A level not seen collapses onto the next one up (idle = running
 * when no idle level was recorded), so every recorded cluster maps to its own label.
 */
function thresholdsFor(clusters: Cluster[], boundaries: number[]): SignalThresholds {
  const startOf = (label: ClusterLabel): number | undefined => {
    const i = clusters.findIndex((c) => c.label === label);
    if (i < 0) return undefined;
    // The lowest cluster has no boundary below it: start at half its lowest reading.
    return i === 0 ? clusters[0]!.min / 2 : boundaries[i - 1];
  };
  const running = roundThreshold(startOf('running')!);
  const idle = roundThreshold(startOf('idle') ?? running);
  const standbyStart = startOf('standby');
  const standby = roundThreshold(standbyStart ?? (clusters[0]!.label === 'off' ? boundaries[0]! : idle));
  return { standby: Math.min(standby, idle), idle: Math.min(idle, running), running };
}

function explain(
  clusters: Cluster[],
  boundaries: number[],
  t: SignalThresholds,
  signal: string,
  unit: string,
): string[] {
  const lines: string[] = [];
  const pct = (s: number) => `${(s * 100).toFixed(s < 0.01 ? 2 : 1)} %`;
  lines.push(
    clusters.length === 2
      ? `${signal} has two clusters: the instrument was ${clusters[0]!.label === 'off' ? 'off' : `in ${clusters[0]!.label}`} or on.`
      : `${signal} has ${clusters.length} clusters, read as ${clusters.map((c) => c.label).join(', ')}.`,
  );
  for (const c of clusters) {
    lines.push(`${c.label}: ${spread(c, unit)}, ${pct(c.share)} of samples.`);
  }
  lines.push(
    `Boundaries are the middle of the emptiest stretch between two clusters: ${boundaries.map((b) => fmt(b, unit)).join(', ')}.`,
  );
  const labels = new Set(clusters.map((c) => c.label));
  if (!labels.has('off')) {
    lines.push(
      `No off readings were recorded; standby starts at ${fmt(t.standby, unit)}, half the lowest reading, so anything below counts as off.`,
    );
  }
  if (!labels.has('idle')) {
    lines.push(
      `No idle level was seen: idle = running (${fmt(t.running, unit)}). If the instrument draws more when ready than in standby but less than when measuring, record that phase too.`,
    );
  }
  if (!labels.has('standby') && labels.has('off')) {
    lines.push(`No standby level was seen: standby = ${labels.has('idle') ? 'idle' : 'running'}.`);
  }
  lines.push(
    'The highest cluster is taken as running. Check it against what the instrument was doing while recording.',
  );
  return lines;
}
