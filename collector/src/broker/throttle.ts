/**
 * CONNECT throttling (issue 9, "no throttling of MQTT CONNECT"). Failed CONNECTs are counted per
 * source address and per username; after `freeFailures` each further failure backs the key off,
 * doubling from `backoff` to `maxBackoff`. While an address is backed off its CONNECTs are refused
 * at once (CONNACK 3, no password checked); while a username is, its CONNECTs are held until the
 * backoff ends (a delayed CONNACK, at most `maxHeld` at a time, more are refused), so a guessing
 * attack on one agent's password gets a few tries a minute while the real agent still gets in.
 * A username can also be banned for a while (an agent disconnected for refused publishes).
 * Pure: the clock is passed in; failures older than `forgetAfter` are forgotten.
 */
export interface ThrottleOptions {
  freeFailures: number;
  backoff: number;
  maxBackoff: number;
  forgetAfter: number;
  maxHeld: number;
}

export type ConnectDecision =
  | { action: 'go' }
  | { action: 'hold'; ms: number }
  | { action: 'refuse'; why: 'address' | 'username' | 'banned' };

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
  bannedUntil: number;
  bans: number;
  held: number;
}

/** Keys kept per map at most: an attacker rotating usernames or IPv6 addresses must not grow them. */
const MAX_KEYS = 10_000;

export function createConnectThrottle(o: ThrottleOptions) {
  const byAddress = new Map<string, Entry>();
  const byUsername = new Map<string, Entry>();

  function entry(map: Map<string, Entry>, key: string, now: number): Entry {
    let e = map.get(key);
    if (!e) {
      if (map.size >= MAX_KEYS) prune(map, now);
      e = { failures: 0, lastFailure: 0, blockedUntil: 0, bannedUntil: 0, bans: 0, held: 0 };
      map.set(key, e);
    }
    return e;
  }

  function fail(e: Entry, now: number): void {
    if (now - e.lastFailure > o.forgetAfter) e.failures = 0;
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - o.freeFailures;
    if (over > 0) {
      const penalty = Math.min(o.maxBackoff, o.backoff * 2 ** Math.min(over - 1, 30));
      e.blockedUntil = Math.max(e.blockedUntil, now + penalty);
    }
  }

  function prune(map: Map<string, Entry>, now: number): void {
    for (const [key, e] of map) {
      const quiet = now - e.lastFailure > o.forgetAfter && now >= e.blockedUntil && now >= e.bannedUntil;
      if (quiet && e.held === 0) map.delete(key);
    }
    // Still full (keys rotated faster than forgotten): drop the oldest tenth at once, so that the
    // next inserts do not scan the whole map again one by one.
    for (const [key, e] of map) {
      if (map.size < MAX_KEYS * 0.9) break;
      if (e.held === 0) map.delete(key);
    }
  }

  return {
    /** What to do with a CONNECT from `address` claiming `username` (undefined: anonymous). */
    check(address: string, username: string | undefined, now: number): ConnectDecision {
      const a = byAddress.get(address);
      if (a && now < a.blockedUntil) return { action: 'refuse', why: 'address' };
      if (username === undefined) return { action: 'go' };
      const u = byUsername.get(username);
      if (!u) return { action: 'go' };
      if (now < u.bannedUntil) return { action: 'refuse', why: 'banned' };
      if (now < u.blockedUntil) {
        if (u.held >= o.maxHeld) return { action: 'refuse', why: 'username' };
        return { action: 'hold', ms: u.blockedUntil - now };
      }
      return { action: 'go' };
    },
    /** A CONNECT is held for `username`; call the returned function when it is let go. */
    hold(username: string, now: number): () => void {
      const u = entry(byUsername, username, now);
      u.held++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        u.held--;
      };
    },
    /** A CONNECT from `address` for `username` failed (bad credentials, refused client id). */
    failed(address: string, username: string | undefined, now: number): void {
      fail(entry(byAddress, address, now), now);
      if (username !== undefined) fail(entry(byUsername, username, now), now);
    },
    /** Refuses `username` for `ms`, doubled for each earlier ban within `forgetAfter`. Returns the ban. */
    ban(username: string, ms: number, now: number): number {
      const u = entry(byUsername, username, now);
      if (now - u.lastFailure > o.forgetAfter) u.bans = 0;
      const length = Math.min(ms * 2 ** Math.min(u.bans, 10), Math.max(ms, o.forgetAfter));
      u.bans++;
      u.lastFailure = now;
      u.bannedUntil = now + length;
      return length;
    },
    /** Keys tracked, for tests and metrics. */
    size(): { addresses: number; usernames: number } {
      return { addresses: byAddress.size, usernames: byUsername.size };
    },
  };
}
export type ConnectThrottle = ReturnType<typeof createConnectThrottle>;
