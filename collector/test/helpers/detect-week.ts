import { classifySignal, type State, type TopicKind, type TopicPayloads } from '@dayi/protocols';
import { startOfDate } from '../../src/derive/pure/calendar.ts';
import type { DetectMessage } from '../../src/detect/index.ts';
import type { AnomalyConfig } from '../../src/detect/settings.ts';
import { detectSettings, resolveAnomaly } from '../../src/detect/settings.ts';

/**
 * A lab week for the detector golden cases: an NMR-like instrument (standby 120 W, idle 600 W,
 * running 1500 W, ±3 % noise) used on weekdays 09:00–12:00 and 13:30–17:30, off at night and at
 * weekends, telemetry every minute with the state an agent would send, arriving 200 ms after its ts.
 * Two weeks of the same life come first, so that learned bands exist. Variants change one thing.
 */

export const TZ = 'Asia/Shanghai';
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const THRESHOLDS = { standby: 60, idle: 360, running: 1050 };
export const LEVEL: Record<'off' | 'standby' | 'idle' | 'running', number> = {
  off: 0,
  standby: 120,
  idle: 600,
  running: 1500,
};

/** Monday 2026-11-16 .. Sunday 2026-11-22 is the week under test; history starts two weeks before. */
export const WEEK = '2026-11-16';
export const HISTORY_START = '2026-11-02';
export const WEEK_END = '2026-11-23';

/** Local `date hh:mm` in Asia/Shanghai as ms. */
export function t(date: string, hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return startOfDate(date, TZ) + h * HOUR + m * MINUTE;
}

/** The usual level at `ts`: weekdays 08:30–18:00 with two runs, off otherwise. */
export function normalLevel(ts: number): keyof typeof LEVEL {
  const local = new Date(ts + 8 * HOUR);
  const dow = local.getUTCDay();
  if (dow === 0 || dow === 6) return 'off';
  const min = local.getUTCHours() * 60 + local.getUTCMinutes();
  if (min < 8 * 60 + 30 || min >= 18 * 60) return 'off';
  if ((min >= 9 * 60 && min < 12 * 60) || (min >= 13 * 60 + 30 && min < 17 * 60 + 30)) return 'running';
  return 'idle';
}

export interface Reading {
  ts: number;
  watts: number;
  /** Extra metrics (voltage_v, current_a, …). */
  metrics?: Record<string, number>;
  /** An explicit state (e.g. fault); else classified from watts. */
  state?: State;
  /** Arrival time; default ts + 200 ms. */
  receivedAt?: number;
}

/** Deterministic noise in [-1, 1]. */
function noise(i: number): number {
  let x = (i * 2_654_435_761) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 2_246_822_519) >>> 0;
  x ^= x >>> 13;
  return (x / 0xffff_ffff) * 2 - 1;
}

export function noisy(level: number, i: number): number {
  return Math.round(level * (1 + 0.03 * noise(i)) * 10) / 10;
}

/** Readings every minute from `from` to `to` (dates, `to` excluded) of the normal life, `change` applied. */
export function readings(
  change: (ts: number, r: Reading) => Reading | null = (_ts, r) => r,
  from = HISTORY_START,
  to = WEEK_END,
): Reading[] {
  const out: Reading[] = [];
  const end = startOfDate(to, TZ);
  let i = 0;
  for (let ts = startOfDate(from, TZ); ts < end; ts += MINUTE) {
    const r = change(ts, { ts, watts: noisy(LEVEL[normalLevel(ts)], i++) });
    if (r) out.push(r);
  }
  return out;
}

/** Ledger-like messages of readings (telemetry with state), plus extra messages, ids by arrival. */
export function messagesOf(
  rs: readonly Reading[],
  extra: readonly Omit<DetectMessage, 'id'>[] = [],
): DetectMessage[] {
  const raw: Omit<DetectMessage, 'id'>[] = rs.map((r, i) => {
    const state = r.state ?? classifySignal(r.watts, THRESHOLDS);
    return {
      kind: 'telemetry' as TopicKind,
      payload: {
        ts: r.ts,
        seq: i,
        metrics: { power_w: r.watts, ...r.metrics },
        state,
      } as TopicPayloads['telemetry'],
      ts: r.ts,
      receivedAt: r.receivedAt ?? r.ts + 200,
      state,
    };
  });
  const all = [...raw, ...extra].sort((a, b) => a.receivedAt - b.receivedAt || a.ts - b.ts);
  return all.map((m, i) => ({ ...m, id: i + 1 }));
}

let eventSeq = 0;

export function event(
  ts: number,
  type: string,
  detail: Record<string, unknown> = {},
  receivedAt = ts + 200,
): Omit<DetectMessage, 'id'> {
  return {
    kind: 'event',
    payload: { ts, seq: eventSeq++, type, severity: 'warning', detail } as TopicPayloads['event'],
    ts,
    receivedAt,
    state: null,
  };
}

export function status(ts: number, online: boolean, receivedAt = ts + 200): Omit<DetectMessage, 'id'> {
  return {
    kind: 'status',
    payload: { ts, online } as TopicPayloads['status'],
    ts,
    receivedAt,
    state: null,
  };
}

export function settingsOf(anomaly: AnomalyConfig = {}) {
  return detectSettings(resolveAnomaly(anomaly, { serviceHours: 'Mon-Fri 08:00-18:00' }), {
    offlineAfterMs: 5 * MINUTE,
    timezone: TZ,
    signal: 'power_w',
  });
}
