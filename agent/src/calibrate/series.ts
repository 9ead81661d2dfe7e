/**
 * A recorded signal as calibration sees it: samples with their event time. Pure: parsing CSV text,
 * resampling, and the time each sample stands for. The analysis and the hours are computed over
 * time, not over sample counts, so that a meter read every 4 s and the same meter read every
 * second give the same answer.
 */

/** One reading of the signal: event time (ms since epoch) and value. */
export interface Sample {
  ts: number;
  value: number;
}

/**
 * A gap between two samples longer than this is missing data, not time spent at the last value:
 * the collector likewise stops trusting an instrument's last state after `offlineAfter` (5 min).
 */
export const MAX_GAP_MS = 5 * 60_000;

export class SeriesError extends Error {}

export interface ParsedSeries {
  samples: Sample[];
  /** Rows with an empty value (a meter's missing reading): skipped. */
  empty: number;
  /** Rows that were not in time order: the series is sorted. */
  unordered: number;
  /** The column the values were taken from (its header name, or `2` without a header). */
  column: string;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A timestamp as meters and dayi export it: ms since the epoch (13 digits), seconds since the epoch
 * (10 digits, fractions allowed), or ISO 8601 (`2026-11-01T10:00:00+08:00`, `2026-11-01 10:00:00`).
 * Without an offset the time is read as UTC: calibration only uses the differences between times.
 */
export function parseTimestamp(text: string): number | null {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    return n >= 1e11 ? n : n * 1000;
  }
  const m = ISO.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  let ts = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec ?? 0));
  if (frac) ts += Number(`0.${frac}`) * 1000;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ts -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)) * 60_000;
  }
  return Number.isFinite(ts) ? ts : null;
}

/**
 * `ts,value` rows, as a meter's export or dayi's own series give them. A first row whose first
 * cell is not a time is a header: if it names `signal` (`ts,power_w,current_a`), that column is
 * read, else the second. Cells may be separated by `,`, `;` or a tab; blank lines and `#` comments
 * are skipped; an empty value is a missing reading. Anything else that is not a time and a number
 * throws a SeriesError naming the line.
 */
export function parseCsvSeries(text: string, signal?: string): ParsedSeries {
  const lines = text.split(/\r?\n/);
  const samples: Sample[] = [];
  let column = 1;
  let columnName = '2';
  let empty = 0;
  let unordered = 0;
  let started = false;
  let lastTs = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/^\uFEFF/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const sep = line.includes(',') ? ',' : line.includes(';') ? ';' : '\t';
    const cells = line.split(sep).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (!started) {
      started = true;
      if (parseTimestamp(cells[0] ?? '') === null) {
        const names = cells.map((c) => c.toLowerCase());
        const k = signal ? names.indexOf(signal.toLowerCase()) : -1;
        if (cells.length < 2)
          throw new SeriesError(`line ${i + 1}: expected a header "ts,value", got ${JSON.stringify(line)}`);
        column = k > 0 ? k : 1;
        columnName = cells[column]!;
        continue;
      }
    }
    const ts = parseTimestamp(cells[0] ?? '');
    if (ts === null)
      throw new SeriesError(
        `line ${i + 1}: ${JSON.stringify(cells[0])} is not a time (ms or s since 1970, or ISO 8601 such as 2026-11-01T10:00:00+08:00)`,
      );
    if (cells.length <= column)
      throw new SeriesError(`line ${i + 1}: no value in column ${column + 1} (${JSON.stringify(line)})`);
    const cell = cells[column]!;
    if (cell === '' || /^(nan|null|na)$/i.test(cell)) {
      empty++;
      continue;
    }
    const value = Number(cell);
    if (!Number.isFinite(value))
      throw new SeriesError(`line ${i + 1}: value ${JSON.stringify(cell)} is not a number`);
    if (ts < lastTs) unordered++;
    lastTs = Math.max(lastTs, ts);
    samples.push({ ts, value });
  }
  if (unordered > 0) sortByTime(samples);
  return { samples, empty, unordered, column: columnName };
}

/** Stable sort by ts: samples of the same instant keep their order (the later one is the newer reading). */
export function sortByTime(samples: Sample[]): void {
  samples.sort((a, b) => a.ts - b.ts);
}

/** The series as CSV text that parseCsvSeries reads back unchanged. */
export function formatCsvSeries(samples: readonly Sample[], signal: string): string {
  const out = [`ts,${signal}`];
  for (const s of samples) out.push(`${s.ts},${s.value}`);
  return `${out.join('\n')}\n`;
}

/**
 * How long each sample stands for: until the next sample, or nothing when the next one is more
 * than MAX_GAP_MS away (the data is missing there). The last sample stands for the median step.
 */
export function durations(samples: readonly Sample[], maxGapMs = MAX_GAP_MS): number[] {
  const n = samples.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i + 1 < n; i++) {
    const d = samples[i + 1]!.ts - samples[i]!.ts;
    out[i] = d > maxGapMs ? 0 : d;
  }
  if (n > 1) out[n - 1] = Math.min(medianStep(samples), maxGapMs);
  return out;
}

/** Median time between consecutive samples, ms (0 with fewer than two). */
export function medianStep(samples: readonly Sample[]): number {
  const steps: number[] = [];
  for (let i = 0; i + 1 < samples.length; i++) steps.push(samples[i + 1]!.ts - samples[i]!.ts);
  if (steps.length === 0) return 0;
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)]!;
}

/**
 * The series as a meter polled every `periodMs` would give it: on a grid of whole periods, the
 * mean of the samples in (t - period, t], or, when none fell there, the last value (a meter's
 * register holds its reading). No sample is made inside a gap longer than MAX_GAP_MS.
 */
export function resample(samples: readonly Sample[], periodMs: number, maxGapMs = MAX_GAP_MS): Sample[] {
  const out: Sample[] = [];
  resampleEach(samples, periodMs, maxGapMs, (ts, value) => out.push({ ts, value }));
  return out;
}

/** `resample` into typed arrays (the same points), without an object per point. */
export function resampleGrid(samples: readonly Sample[], periodMs: number, maxGapMs = MAX_GAP_MS): Grid {
  if (samples.length === 0) return { ts: new Float64Array(0), v: new Float64Array(0) };
  const most = Math.floor((samples[samples.length - 1]!.ts - samples[0]!.ts) / periodMs) + 2;
  const ts = new Float64Array(most);
  const v = new Float64Array(most);
  let n = 0;
  resampleEach(samples, periodMs, maxGapMs, (t, value) => {
    ts[n] = t;
    v[n++] = value;
  });
  return { ts: ts.subarray(0, n), v: v.subarray(0, n) };
}

function resampleEach(
  samples: readonly Sample[],
  periodMs: number,
  maxGapMs: number,
  push: (ts: number, value: number) => void,
): void {
  if (samples.length === 0) return;
  let i = 0;
  let last: Sample | undefined;
  const end = samples[samples.length - 1]!.ts;
  for (let t = Math.ceil(samples[0]!.ts / periodMs) * periodMs; t < end + periodMs; t += periodMs) {
    let sum = 0;
    let n = 0;
    while (i < samples.length && samples[i]!.ts <= t) {
      last = samples[i++]!;
      if (last.ts > t - periodMs) {
        sum += last.value;
        n++;
      }
    }
    if (n > 0) push(t, sum / n);
    else if (last && t - last.ts <= maxGapMs && i < samples.length && samples[i]!.ts - last.ts <= maxGapMs)
      push(t, last.value);
  }
}

/** A series on a regular grid, in typed arrays: a 24-day recording at 1 s is 2 million points. */
export interface Grid {
  ts: Float64Array;
  v: Float64Array;
}

/** Most samples a recording keeps (16 MB): beyond it they are merged into coarser time buckets. */
export const MAX_RECORDED = 1_000_000;

/**
 * A live recording, bounded in memory. Every reading is kept until MAX_RECORDED; then neighbouring
 * readings are merged into buckets of one second (mean value), then two, four… so a 24-day recording
 * at 10 Hz still fits. The analysis works on a one-second grid and on the classifier's window
 * (10 s), so buckets of a few seconds change little; `resolutionMs` says what was kept.
 */
export class Recorder {
  private ts: number[] = [];
  private values: number[] = [];
  /** 0: every reading kept; else the bucket width, ms. */
  resolutionMs = 0;
  /** Readings seen (before any merging). */
  seen = 0;
  private readonly max: number;

  constructor(max = MAX_RECORDED) {
    this.max = max;
  }

  add(ts: number, value: number): void {
    this.seen++;
    const n = this.ts.length;
    if (this.resolutionMs > 0 && n > 0) {
      const bucket = Math.floor(ts / this.resolutionMs);
      if (Math.floor(this.ts[n - 1]! / this.resolutionMs) === bucket) {
        // Running mean of the bucket; its time stays the first reading's.
        const k = this.counts[n - 1]! + 1;
        this.values[n - 1]! += (value - this.values[n - 1]!) / k;
        this.counts[n - 1] = k;
        return;
      }
    }
    this.ts.push(ts);
    this.values.push(value);
    this.counts.push(1);
    if (this.ts.length > this.max) this.coarsen();
  }

  private counts: number[] = [];

  private coarsen(): void {
    this.resolutionMs = this.resolutionMs === 0 ? 1000 : this.resolutionMs * 2;
    const ts: number[] = [];
    const values: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < this.ts.length; i++) {
      const n = ts.length;
      if (
        n > 0 &&
        Math.floor(ts[n - 1]! / this.resolutionMs) === Math.floor(this.ts[i]! / this.resolutionMs)
      ) {
        const k = counts[n - 1]! + this.counts[i]!;
        values[n - 1] = (values[n - 1]! * counts[n - 1]! + this.values[i]! * this.counts[i]!) / k;
        counts[n - 1] = k;
      } else {
        ts.push(this.ts[i]!);
        values.push(this.values[i]!);
        counts.push(this.counts[i]!);
      }
    }
    this.ts = ts;
    this.values = values;
    this.counts = counts;
    if (this.ts.length > this.max * 0.75) this.coarsen();
  }

  get length(): number {
    return this.ts.length;
  }

  samples(): Sample[] {
    return this.ts.map((ts, i) => ({ ts, value: this.values[i]! }));
  }
}
