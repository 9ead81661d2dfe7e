/**
 * Limits what refused publishes cost (issue 9, "disk filled through rejected messages"): per agent,
 * a token bucket of `perMinute` refused publishes that are kept in `rejected` and logged one by one;
 * beyond it they are only counted (acknowledged and dropped as always), and an agent that goes on,
 * `disconnectAfter` over the rate within a minute, is disconnected. Pure: the clock is passed in.
 */
export type RejectVerdict = 'keep' | 'count' | 'disconnect';

export interface RejectLimits {
  perMinute: number;
  disconnectAfter: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** Refused publishes over the rate since `overSince`. */
  over: number;
  overSince: number;
  /** Over the rate and not kept since the last summary. */
  suppressed: number;
}

const MINUTE = 60_000;
const MAX_KEYS = 10_000;

export function createRejectLimiter(limits: RejectLimits) {
  const buckets = new Map<string, Bucket>();
  const perMs = limits.perMinute / MINUTE;

  return {
    /** One refused publish of agent `key` (its username, or `client:<id>`) at `now`. */
    take(key: string, now: number): RejectVerdict {
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= MAX_KEYS) prune(now);
        b = { tokens: limits.perMinute, at: now, over: 0, overSince: now, suppressed: 0 };
        buckets.set(key, b);
      }
      b.tokens = Math.min(limits.perMinute, b.tokens + (now - b.at) * perMs);
      b.at = now;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 'keep';
      }
      if (now - b.overSince > MINUTE) {
        b.over = 0;
        b.overSince = now;
      }
      b.suppressed++;
      if (++b.over > limits.disconnectAfter) {
        b.over = 0;
        b.overSince = now;
        return 'disconnect';
      }
      return 'count';
    },
    /** Agents whose refused publishes were only counted since the last call, with how many. */
    drainSuppressed(): { key: string; suppressed: number }[] {
      const out: { key: string; suppressed: number }[] = [];
      for (const [key, b] of buckets) {
        if (b.suppressed > 0) out.push({ key, suppressed: b.suppressed });
        b.suppressed = 0;
      }
      return out;
    },
  };

  function prune(now: number): void {
    for (const [key, b] of buckets) {
      if (now - b.at > MINUTE && b.suppressed === 0) buckets.delete(key);
    }
    // Still full (many agents refused at once): forget the oldest tenth; they start with a full bucket.
    for (const key of buckets.keys()) {
      if (buckets.size < MAX_KEYS * 0.9) break;
      buckets.delete(key);
    }
  }
}
export type RejectLimiter = ReturnType<typeof createRejectLimiter>;
