/**
 * Golden cases for the pure derivation: observations in, exact per-day figures out.
 * Times are written as local ISO strings with their offset so a reader can check them by hand.
 * Expected figures are exact (minutes), not rounded: `usageByDay` works in ms.
 */
import type { State } from '@dayi/protocols';
import type { Observation } from '../../src/derive/pure/timeline.ts';

export interface GoldenDay {
  date: string;
  /** Exact minutes. */
  poweredMin: number;
  runningMin: number;
  coveredMin: number;
  spanMin: number;
}

export interface GoldenCase {
  name: string;
  timezone: string;
  offlineAfterMs: number;
  now: string;
  observations: Observation[];
  dates: string[];
  expected: GoldenDay[];
}

const MIN = 60_000;

/** One observation every `stepMs` from `from` (included) to `to` (excluded). */
export function every(from: string, to: string, stepMs: number, state: State): Observation[] {
  const out: Observation[] = [];
  for (let ts = Date.parse(from); ts < Date.parse(to); ts += stepMs) out.push({ ts, state });
  return out;
}

export const GOLDEN_CASES: GoldenCase[] = [
  {
    // Telemetry each minute: arrives 08:00 (off), starts 08:30, lunch 12:00-13:00 in standby,
    // runs again until 17:30, switched off; the last message (17:59, off) holds for 5 min.
    name: 'a working day with a lunch break (Asia/Shanghai)',
    timezone: 'Asia/Shanghai',
    offlineAfterMs: 5 * MIN,
    now: '2026-11-10T00:00:00+08:00',
    observations: [
      ...every('2026-11-02T08:00:00+08:00', '2026-11-02T08:30:00+08:00', MIN, 'off'),
      ...every('2026-11-02T08:30:00+08:00', '2026-11-02T12:00:00+08:00', MIN, 'running'),
      ...every('2026-11-02T12:00:00+08:00', '2026-11-02T13:00:00+08:00', MIN, 'standby'),
      ...every('2026-11-02T13:00:00+08:00', '2026-11-02T17:30:00+08:00', MIN, 'running'),
      ...every('2026-11-02T17:30:00+08:00', '2026-11-02T18:00:00+08:00', MIN, 'off'),
    ],
    dates: ['2026-11-01', '2026-11-02', '2026-11-03'],
    expected: [
      { date: '2026-11-01', poweredMin: 0, runningMin: 0, coveredMin: 0, spanMin: 1440 },
      // powered 3h30 + 1h + 4h30 = 9 h; running 8 h; covered 08:00 .. 18:04 = 10 h 04 min.
      { date: '2026-11-02', poweredMin: 540, runningMin: 480, coveredMin: 604, spanMin: 1440 },
      { date: '2026-11-03', poweredMin: 0, runningMin: 0, coveredMin: 0, spanMin: 1440 },
    ],
  },
  {
    // A night run from 22:00 to 02:30 local, then off for half an hour. Shanghai midnight is
    // 16:00 UTC, so a UTC calendar would put everything on one day.
    name: 'a run across midnight (Asia/Shanghai)',
    timezone: 'Asia/Shanghai',
    offlineAfterMs: 5 * MIN,
    now: '2026-11-10T00:00:00+08:00',
    observations: [
      ...every('2026-11-02T22:00:00+08:00', '2026-11-03T02:30:00+08:00', MIN, 'running'),
      ...every('2026-11-03T02:30:00+08:00', '2026-11-03T03:00:00+08:00', MIN, 'off'),
    ],
    dates: ['2026-11-02', '2026-11-03'],
    expected: [
      { date: '2026-11-02', poweredMin: 120, runningMin: 120, coveredMin: 120, spanMin: 1440 },
      { date: '2026-11-03', poweredMin: 150, runningMin: 150, coveredMin: 184, spanMin: 1440 },
    ],
  },
  {
    // Only state changes, 20 and 45 min apart: each holds for offlineAfter (5 min), the rest is
    // unknown, not the last state.
    name: 'gaps longer than offlineAfter are unknown',
    timezone: 'Asia/Shanghai',
    offlineAfterMs: 5 * MIN,
    now: '2026-11-10T00:00:00+08:00',
    observations: [
      { ts: Date.parse('2026-11-02T10:00:00+08:00'), state: 'running' },
      { ts: Date.parse('2026-11-02T10:20:00+08:00'), state: 'idle' },
      { ts: Date.parse('2026-11-02T10:23:00+08:00'), state: 'running' },
      { ts: Date.parse('2026-11-02T11:08:00+08:00'), state: 'off' },
    ],
    dates: ['2026-11-02'],
    expected: [
      // running 5 + 5, idle 3 (cut by the next message), off 5.
      { date: '2026-11-02', poweredMin: 13, runningMin: 10, coveredMin: 18, spanMin: 1440 },
    ],
  },
  {
    // now is 12:00; a skewed clock sent data up to 12:10. Nothing after now counts, the last
    // message before now holds only until now, and tomorrow has no span at all.
    name: 'data only up to now',
    timezone: 'Asia/Shanghai',
    offlineAfterMs: 5 * MIN,
    now: '2026-11-03T12:00:00+08:00',
    observations: [
      ...every('2026-11-03T08:00:00+08:00', '2026-11-03T11:58:30+08:00', MIN, 'running'),
      { ts: Date.parse('2026-11-03T11:58:30+08:00'), state: 'idle' },
      ...every('2026-11-03T12:00:00+08:00', '2026-11-03T12:10:00+08:00', MIN, 'running'),
    ],
    dates: ['2026-11-03', '2026-11-04'],
    expected: [
      { date: '2026-11-03', poweredMin: 240, runningMin: 238.5, coveredMin: 240, spanMin: 720 },
      { date: '2026-11-04', poweredMin: 0, runningMin: 0, coveredMin: 0, spanMin: 0 },
    ],
  },
  {
    // Europe/Berlin springs forward on 2026-03-29 (23 h) and falls back on 2026-10-25 (25 h).
    // Running all local day long, every minute of real time.
    name: 'a DST time zone: 23 h and 25 h days (Europe/Berlin)',
    timezone: 'Europe/Berlin',
    offlineAfterMs: 5 * MIN,
    now: '2026-12-01T00:00:00Z',
    observations: [
      ...every('2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00', MIN, 'running'),
      ...every('2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', MIN, 'idle'),
    ],
    dates: ['2026-03-28', '2026-03-29', '2026-03-30', '2026-10-25'],
    expected: [
      { date: '2026-03-28', poweredMin: 0, runningMin: 0, coveredMin: 0, spanMin: 1440 },
      { date: '2026-03-29', poweredMin: 1380, runningMin: 1380, coveredMin: 1380, spanMin: 1380 },
      // The last message (23:59) holds for 5 min: until 00:04 of the next day.
      { date: '2026-03-30', poweredMin: 4, runningMin: 4, coveredMin: 4, spanMin: 1440 },
      { date: '2026-10-25', poweredMin: 1500, runningMin: 0, coveredMin: 1500, spanMin: 1500 },
    ],
  },
  {
    // Two observations with the same ts: the last inserted (highest order) wins, whatever the
    // order they are given in.
    name: 'same ts: the last inserted wins',
    timezone: 'UTC',
    offlineAfterMs: 10 * MIN,
    now: '2026-11-10T00:00:00Z',
    observations: [
      { ts: Date.parse('2026-11-02T10:00:00Z'), state: 'running', order: 7 },
      { ts: Date.parse('2026-11-02T10:00:00Z'), state: 'off', order: 3 },
    ],
    dates: ['2026-11-02'],
    expected: [{ date: '2026-11-02', poweredMin: 10, runningMin: 10, coveredMin: 10, spanMin: 1440 }],
  },
];
