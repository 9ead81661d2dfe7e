import { CLOCK_SKEW_MAX_MS } from './settings.ts';
import { type Emit, MINUTE_MS } from './types.ts';

/**
 * clock_skew: live data whose `ts` is more than 2 minutes from its arrival. Lag = arrival − ts.
 *
 * An outbox replay also arrives late, so late alone is not skew. How they differ:
 * - Data can never arrive BEFORE its time: a lag below −2 min is a clock ahead, at once.
 * - A replay drains a backlog: its ts run ahead much faster than the arrivals (hours of data in
 *   seconds), then live data follows with a small lag (and the agent's `status`, published at
 *   once on every reconnect, carries a fresh ts). A clock behind gives the same lag steadily, at
 *   the pace of the arrivals. So "behind" needs, over the last 10 minutes of arrivals: at least 3
 *   messages spread over 5 minutes or more, EVERY one lagging more than 2 min (the minimum lag is
 *   the best estimate of the clock offset, as in NTP: queueing only ever adds lag), and their ts
 *   advancing no faster than twice the arrivals (plus a minute).
 * Wills (status online:false) are skipped: they carry the ts of their CONNECT, by design.
 * Data that arrives steadily more than 2 minutes late for another reason (a link slower than the
 * data) is flagged too: its times cannot be told from a slow clock's, and `detail.lagMs` says how far.
 */
export interface SkewBucket {
  minute: number;
  minLag: number;
  minTs: number;
  maxTs: number;
  firstAt: number;
  lastAt: number;
  n: number;
}

export interface ClockSkewState {
  buckets: SkewBucket[];
  /** The open episode: when it was seen, and the lag that showed it. */
  open: { start: number; lagMs: number } | null;
}

export const SKEW_WINDOW_MS = 10 * MINUTE_MS;

export function initClockSkew(): ClockSkewState {
  return { buckets: [], open: null };
}

export function clockSkewOnArrival(
  st: ClockSkewState,
  m: { receivedAt: number; ts: number; will: boolean },
  emit: Emit,
): void {
  if (m.will) return;
  const r = m.receivedAt;
  const lag = r - m.ts;
  const minute = Math.floor(r / MINUTE_MS);
  const oldest = Math.floor((r - SKEW_WINDOW_MS) / MINUTE_MS);
  while (st.buckets.length > 0 && st.buckets[0]!.minute <= oldest) st.buckets.shift();
  let b = st.buckets.find((x) => x.minute === minute);
  if (!b) {
    b = { minute, minLag: lag, minTs: m.ts, maxTs: m.ts, firstAt: r, lastAt: r, n: 0 };
    st.buckets.push(b);
    // arrivals come in ledger order, so this is nearly always already sorted
    if (st.buckets.length > 1 && st.buckets[st.buckets.length - 2]!.minute > minute) {
      st.buckets.sort((x, y) => x.minute - y.minute);
    }
  }
  b.minLag = Math.min(b.minLag, lag);
  b.minTs = Math.min(b.minTs, m.ts);
  b.maxTs = Math.max(b.maxTs, m.ts);
  b.firstAt = Math.min(b.firstAt, r);
  b.lastAt = Math.max(b.lastAt, r);
  b.n++;
  const ahead = lag < -CLOCK_SKEW_MAX_MS;
  // Live data (|lag| within the limit) cannot be behind: the window's minimum is at most this lag.
  const behindBy = lag > CLOCK_SKEW_MAX_MS ? behindLag(st.buckets) : null;
  const behind = behindBy !== null;
  if ((ahead || behind) && !st.open) {
    st.open = { start: r, lagMs: ahead ? lag : (behindBy ?? lag) };
    emit(finding(r, null, st.open.lagMs));
  } else if (!ahead && !behind && st.open) {
    emit(finding(st.open.start, r, st.open.lagMs));
    st.open = null;
  }
}

function finding(start: number, end: number | null, lagMs: number) {
  return {
    type: 'clock_skew' as const,
    start,
    end,
    sticky: false,
    severity: 'warning' as const,
    detail: { lagMs, clock: lagMs < 0 ? 'ahead' : 'behind' },
  };
}

/** The window's minimum lag when it shows a clock behind (see above), else null. */
function behindLag(buckets: readonly SkewBucket[]): number | null {
  let n = 0;
  let minLag = Number.POSITIVE_INFINITY;
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  let firstAt = Number.POSITIVE_INFINITY;
  let lastAt = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    n += b.n;
    minLag = Math.min(minLag, b.minLag);
    minTs = Math.min(minTs, b.minTs);
    maxTs = Math.max(maxTs, b.maxTs);
    firstAt = Math.min(firstAt, b.firstAt);
    lastAt = Math.max(lastAt, b.lastAt);
  }
  const span = lastAt - firstAt;
  const steady =
    n >= 3 &&
    span >= SKEW_WINDOW_MS / 2 &&
    minLag > CLOCK_SKEW_MAX_MS &&
    maxTs - minTs <= 2 * span + MINUTE_MS;
  return steady ? minLag : null;
}
