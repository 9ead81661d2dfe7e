/**
 * Latency histograms of bench/fleet: log buckets 2 % wide from 0.01 ms, so that load processes
 * can send counts instead of every sample, and percentiles merge exactly across processes.
 */
const BASE = 1.02;
const UNIT_MS = 0.01;

export function bucketOf(ms: number): number {
  return Math.max(0, Math.floor(Math.log(ms / UNIT_MS + 1) / Math.log(BASE)));
}

/** The upper bound of a bucket, in ms (what a percentile in that bucket is quoted as). */
export function upperMs(bucket: number): number {
  return (BASE ** (bucket + 1) - 1) * UNIT_MS;
}

export type Hist = Map<number, number>;

export function merge(into: Hist, pairs: Iterable<readonly [number, number]>): Hist {
  for (const [b, n] of pairs) into.set(b, (into.get(b) ?? 0) + n);
  return into;
}

export function count(h: Hist): number {
  let n = 0;
  for (const c of h.values()) n += c;
  return n;
}

/** The p-quantile (0..1) in ms, rounded to 0.1 ms; null for an empty histogram. */
export function quantile(h: Hist, p: number): number | null {
  const total = count(h);
  if (total === 0) return null;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (const b of [...h.keys()].sort((x, y) => x - y)) {
    seen += h.get(b)!;
    if (seen >= rank) return Math.round(upperMs(b) * 10) / 10;
  }
  return null;
}
