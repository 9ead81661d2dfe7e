import type { Logger } from 'pino';

/**
 * Log lines an attacker can cause, bounded: the first `firstLines` events of an interval are logged
 * one by one, the rest only counted, and a summary (counts by result, the busiest addresses and
 * usernames) is logged when the interval ends. 4,000 bad CONNECTs a second give a dozen lines a
 * minute, not 4,000 a second.
 */
export interface SummaryOptions {
  everyMs: number;
  firstLines: number;
  /** The summary line's message. */
  message: string;
}

export function createLogSummary(log: Pick<Logger, 'warn'>, o: SummaryOptions) {
  let logged = 0;
  let total = 0;
  const byResult = new Map<string, number>();
  const byAddress = new Map<string, number>();
  const byUsername = new Map<string, number>();

  const bump = (map: Map<string, number>, key: string) => {
    // bounded: an attacker rotating keys would otherwise grow them for the whole interval
    if (map.size < 1000 || map.has(key)) map.set(key, (map.get(key) ?? 0) + 1);
  };
  const top = (map: Map<string, number>) =>
    Object.fromEntries([...map].sort((a, b) => b[1] - a[1]).slice(0, 5));

  function flush(): void {
    if (total > logged) {
      log.warn(
        {
          intervalMs: o.everyMs,
          total,
          notLoggedOneByOne: total - logged,
          byResult: Object.fromEntries(byResult),
          topAddresses: top(byAddress),
          topUsernames: top(byUsername),
        },
        o.message,
      );
    }
    logged = 0;
    total = 0;
    byResult.clear();
    byAddress.clear();
    byUsername.clear();
  }
  const timer = setInterval(flush, o.everyMs);
  timer.unref();

  return {
    /** One event; `line` writes its own log line, called only while the interval's budget lasts. */
    note(result: string, address: string, username: string | undefined, line: () => void): void {
      total++;
      bump(byResult, result);
      bump(byAddress, address);
      if (username !== undefined) bump(byUsername, username.slice(0, 128));
      if (logged < o.firstLines) {
        logged++;
        line();
      }
    },
    close(): void {
      clearInterval(timer);
      flush();
    },
  };
}
