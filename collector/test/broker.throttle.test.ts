/** The CONNECT throttle and the refused-publish limiter as pure functions of a clock (golden cases). */
import { describe, expect, it } from 'vitest';
import { createConnectThrottle } from '../src/broker/throttle.ts';
import { createRejectLimiter } from '../src/ingest/rejects.ts';

const options = { freeFailures: 2, backoff: 1000, maxBackoff: 8000, forgetAfter: 60_000, maxHeld: 2 };

describe('CONNECT throttle', () => {
  it('backs an address off after its free failures, doubling up to maxBackoff, and forgets', () => {
    const t = createConnectThrottle(options);
    const at = (now: number) => t.check('10.0.0.1', undefined, now);
    t.failed('10.0.0.1', undefined, 0);
    t.failed('10.0.0.1', undefined, 0);
    expect(at(0)).toEqual({ action: 'go' });
    const penalties = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      t.failed('10.0.0.1', undefined, now);
      let until = now;
      while (at(until).action === 'refuse') until += 100;
      penalties.push(until - now);
      now = until;
    }
    expect(penalties).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    // another address is not affected
    expect(t.check('10.0.0.2', undefined, now)).toEqual({ action: 'go' });
    // after forgetAfter without failures, the count starts again
    now += 61_000;
    t.failed('10.0.0.1', undefined, now);
    expect(at(now)).toEqual({ action: 'go' });
  });

  it('holds a backed-off username (at most maxHeld at once) instead of refusing it', () => {
    const t = createConnectThrottle(options);
    for (let i = 0; i < 3; i++) t.failed(`192.0.2.${i}`, 'lab3-pc7', 0);
    const d = t.check('198.51.100.7', 'lab3-pc7', 0);
    expect(d).toEqual({ action: 'hold', ms: 1000 });
    const r1 = t.hold('lab3-pc7', 0);
    t.hold('lab3-pc7', 0);
    expect(t.check('198.51.100.7', 'lab3-pc7', 0)).toEqual({ action: 'refuse', why: 'username' });
    r1();
    r1(); // released once only
    expect(t.check('198.51.100.7', 'lab3-pc7', 0).action).toBe('hold');
    expect(t.check('198.51.100.7', 'lab3-pc7', 1000)).toEqual({ action: 'go' });
  });

  it('bans a username, doubling for a repeat', () => {
    const t = createConnectThrottle(options);
    expect(t.ban('noisy', 1000, 0)).toBe(1000);
    expect(t.check('10.0.0.9', 'noisy', 999)).toEqual({ action: 'refuse', why: 'banned' });
    expect(t.check('10.0.0.9', 'noisy', 1000)).toEqual({ action: 'go' });
    expect(t.ban('noisy', 1000, 2000)).toBe(2000);
  });

  it('keeps at most 10,000 keys however many addresses fail', () => {
    const t = createConnectThrottle(options);
    for (let i = 0; i < 30_000; i++) t.failed(`2001:db8::${i.toString(16)}`, `user-${i}`, i);
    const size = t.size();
    expect(size.addresses).toBeLessThanOrEqual(10_000);
    expect(size.usernames).toBeLessThanOrEqual(10_000);
  });
});

describe('refused-publish limiter', () => {
  it('keeps perMinute per agent, then counts, then asks to disconnect', () => {
    const l = createRejectLimiter({ perMinute: 3, disconnectAfter: 2 });
    const verdicts = Array.from({ length: 6 }, () => l.take('a', 0));
    expect(verdicts).toEqual(['keep', 'keep', 'keep', 'count', 'count', 'disconnect']);
    expect(l.take('b', 0)).toBe('keep');
    // the bucket refills at perMinute: one more after 20 s
    expect(l.take('a', 20_000)).toBe('keep');
    expect(l.drainSuppressed()).toEqual([{ key: 'a', suppressed: 3 }]);
    expect(l.drainSuppressed()).toEqual([]);
  });
});
