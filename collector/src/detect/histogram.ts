import { BAND_MIN_HALF_WIDTH, BAND_MIN_SAMPLES, BAND_WIDTH_SIGMAS, SHIFT_MIN_SIGMA } from './settings.ts';
import { BAND_STATES, type BandState } from './types.ts';

/**
 * Learned power bands from compact daily histograms: the median and the MAD of 14 days of samples
 * without keeping the samples. Bins are logarithmic, 1 % wide, so the median and the MAD are exact
 * to about 0.5 % at any power level, and a day of one state takes a few dozen numbers.
 */

/** Counts by bin: bin b holds values within 0.5 % of 1.01^b. Non-positive values are not learned from. */
export type Histogram = Record<string, number>;
export type DayHistograms = Partial<Record<BandState, Histogram>>;

export interface DayHist {
  date: string;
  hist: DayHistograms;
}

const STEP = Math.log(1.01);

export function binOf(value: number): number | null {
  if (!(value > 0) || !Number.isFinite(value)) return null;
  return Math.round(Math.log(value) / STEP);
}

export function centerOf(bin: number): number {
  return Math.exp(bin * STEP);
}

export function addSample(hist: Histogram, value: number): void {
  const bin = binOf(value);
  if (bin === null) return;
  const k = String(bin);
  hist[k] = (hist[k] ?? 0) + 1;
}

/** What a state's band was learned as: robust centre and spread, and the band they give. */
export interface LearnedBand {
  median: number;
  /** 1.4826 × MAD: the spread of a normal distribution with the same MAD. */
  sigma: number;
  lo: number;
  hi: number;
  samples: number;
}

export type LearnedBands = Partial<Record<BandState, LearnedBand>>;

/** Bands of each state from the given days (the 14 before the day they apply to). */
export function learnBands(days: readonly DayHist[]): LearnedBands {
  const out: LearnedBands = {};
  for (const state of BAND_STATES) {
    const merged = new Map<number, number>();
    let n = 0;
    for (const d of days) {
      const h = d.hist[state];
      if (!h) continue;
      for (const [k, c] of Object.entries(h)) {
        const b = Number(k);
        merged.set(b, (merged.get(b) ?? 0) + c);
        n += c;
      }
    }
    if (n < BAND_MIN_SAMPLES) continue;
    const bins = [...merged.entries()].sort((a, b) => a[0] - b[0]);
    const median = weightedMedian(bins.map(([b, c]) => [centerOf(b), c] as const));
    const mad = weightedMedian(
      bins.map(([b, c]) => [Math.abs(centerOf(b) - median), c] as const).sort((a, b) => a[0] - b[0]),
    );
    const sigma = 1.4826 * mad;
    const half = Math.max(BAND_WIDTH_SIGMAS * sigma, BAND_MIN_HALF_WIDTH * median);
    out[state] = {
      median: round(median),
      sigma: round(Math.max(sigma, SHIFT_MIN_SIGMA * median)),
      lo: round(Math.max(0, median - half)),
      hi: round(median + half),
      samples: n,
    };
  }
  return out;
}

/** The value at half the total weight of (value, weight) pairs sorted by value. */
function weightedMedian(pairs: readonly (readonly [number, number])[]): number {
  let total = 0;
  for (const [, w] of pairs) total += w;
  let seen = 0;
  for (const [v, w] of pairs) {
    seen += w;
    if (seen * 2 >= total) return v;
  }
  return pairs[pairs.length - 1]?.[0] ?? 0;
}

/** 4 significant digits: learned figures are estimates, and stored detail stays readable. */
function round(x: number): number {
  if (x === 0) return 0;
  const p = 10 ** (3 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}
