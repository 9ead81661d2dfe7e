/**
 * Parsers for the real power traces in /work/shared/data/traces (see its README), shared by the
 * collector's and the agent's tests. Local wall-clock times are turned into ms UTC in a given
 * IANA zone; a malformed line throws an error naming the file's line number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tzOffsetMs } from '../../src/derive/pure/calendar.ts';

export const TRACES_DIR = process.env.DAYI_TRACES_DIR ?? '/work/shared/data/traces';

export const TRACEBASE_DIR = join(TRACES_DIR, 'tracebase');
export const KEHKOK_DIR = join(TRACES_DIR, 'kehkok-lab', '3combi_kettle+vacuum+wheater');

/** One tracebase sample: real power in W averaged over 1 s and over 8 s. */
export interface TracebaseSample {
  ts: number;
  p1s: number;
  p8s: number;
}

/** One kehkok sample: every column of the header by name (`Active (W)`, `RMS Current`, …). */
export interface KehkokSample {
  ts: number;
  values: Record<string, number>;
}

/** Wall-clock time in `tz` to ms UTC (two passes settle the offset, as in calendar.ts). */
export function localToUtc(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  tz: string,
): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  let guess = asUtc - tzOffsetMs(asUtc, tz);
  guess = asUtc - tzOffsetMs(guess, tz);
  return guess;
}

const TRACEBASE_LINE =
  /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2});(-?\d+(?:\.\d+)?);(-?\d+(?:\.\d+)?)$/;

/**
 * tracebase `DD/MM/YYYY HH:MM:SS;P1s;P8s`, CRLF or LF, no header, samples in file order
 * (which may repeat a second: keep the order, the later one is the newer reading).
 */
export function parseTracebase(text: string, tz = 'Europe/Berlin'): TracebaseSample[] {
  const out: TracebaseSample[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const m = TRACEBASE_LINE.exec(line);
    if (!m)
      throw new Error(
        `tracebase line ${i + 1}: expected "DD/MM/YYYY HH:MM:SS;P1s;P8s", got ${JSON.stringify(line)}`,
      );
    const [, dd, mm, yyyy, hh, mi, ss, p1, p8] = m;
    out.push({
      ts: localToUtc(Number(yyyy), Number(mm), Number(dd), Number(hh), Number(mi), Number(ss), tz),
      p1s: Number(p1),
      p8s: Number(p8),
    });
  }
  return out;
}

const KEHKOK_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** kehkok CSV: a header `Timestamp,RMS Current,…,Active (W),…`, then `YYYY-MM-DD HH:MM:SS,n,n,…`. */
export function parseKehkok(text: string, tz = 'UTC'): KehkokSample[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',') ?? [];
  if (header[0] !== 'Timestamp')
    throw new Error('kehkok line 1: expected a header starting with "Timestamp"');
  const names = header.slice(1);
  const out: KehkokSample[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const cells = line.split(',');
    const m = KEHKOK_TIME.exec(cells[0] ?? '');
    if (!m) throw new Error(`kehkok line ${i + 1}: bad timestamp ${JSON.stringify(cells[0])}`);
    if (cells.length !== header.length) {
      throw new Error(`kehkok line ${i + 1}: ${cells.length} columns, the header has ${header.length}`);
    }
    const values: Record<string, number> = {};
    names.forEach((name, j) => {
      const v = Number(cells[j + 1]);
      if (!Number.isFinite(v) || cells[j + 1] === '') {
        throw new Error(`kehkok line ${i + 1}: ${name} is not a number: ${JSON.stringify(cells[j + 1])}`);
      }
      values[name] = v;
    });
    const [, y, mo, d, h, mi, s] = m;
    out.push({
      ts: localToUtc(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s), tz),
      values,
    });
  }
  return out;
}

export function readTracebase(file: string, tz?: string): TracebaseSample[] {
  return parseTracebase(readFileSync(join(TRACEBASE_DIR, file), 'utf8'), tz);
}

export function readKehkok(relative: string, tz?: string): KehkokSample[] {
  return parseKehkok(readFileSync(join(KEHKOK_DIR, relative), 'utf8'), tz);
}

/** A trace as dayi telemetry metrics: `power_w` (and `current_a` when the trace has it). */
export function tracebaseMetrics(s: TracebaseSample): { ts: number; metrics: Record<string, number> } {
  return { ts: s.ts, metrics: { power_w: s.p1s } };
}

export function kehkokMetrics(s: KehkokSample): { ts: number; metrics: Record<string, number> } {
  return { ts: s.ts, metrics: { power_w: s.values['Active (W)']!, current_a: s.values['RMS Current']! } };
}
