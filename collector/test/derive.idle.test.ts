import { describe, expect, it } from 'vitest';
import { currentState, isOnline } from '../src/derive/pure/current.ts';
import { DAY_MS, effectiveIdleDays, idleVerdict, wholeDaysSince } from '../src/derive/pure/idle.ts';

const now = Date.parse('2026-11-29T08:00:00Z');

describe('idle', () => {
  it('lists an instrument last powered 120 days ago, not one powered 10 days ago', () => {
    expect(
      idleVerdict({ firstSeen: now - 400 * DAY_MS, lastPoweredAt: now - 120 * DAY_MS }, 90, now),
    ).toEqual({
      kind: 'idle',
      since: now - 120 * DAY_MS,
      idleDays: 120,
    });
    expect(
      idleVerdict({ firstSeen: now - 400 * DAY_MS, lastPoweredAt: now - 10 * DAY_MS }, 90, now).kind,
    ).toBe('active');
  });

  it('is idle from exactly idleDays on, and idleDays is floored', () => {
    expect(idleVerdict({ firstSeen: 0, lastPoweredAt: now - 90 * DAY_MS }, 90, now).kind).toBe('idle');
    expect(idleVerdict({ firstSeen: 0, lastPoweredAt: now - 90 * DAY_MS + 1 }, 90, now)).toMatchObject({
      kind: 'active',
      idleDays: 89,
    });
  });

  it('counts an instrument never seen powered from its first message', () => {
    expect(idleVerdict({ firstSeen: now - 100 * DAY_MS, lastPoweredAt: null }, 90, now)).toMatchObject({
      kind: 'idle',
      idleDays: 100,
    });
  });

  it('an instrument that never reported is never_reported, not idle', () => {
    expect(idleVerdict({ firstSeen: null, lastPoweredAt: null }, 1, now)).toEqual({ kind: 'never_reported' });
  });

  it('takes the query days, else the instrument, else the config', () => {
    expect(effectiveIdleDays(30, 60, 90)).toBe(30);
    expect(effectiveIdleDays(undefined, 60, 90)).toBe(60);
    expect(effectiveIdleDays(undefined, null, 90)).toBe(90);
    expect(wholeDaysSince(now + 5, now)).toBe(0);
  });
});

describe('current state and online', () => {
  const off = 5 * 60_000;
  it('is the latest state while fresh, unknown once stale', () => {
    const latest = { ts: now - 60_000, state: 'running' as const, runStart: now - 3_600_000 };
    expect(currentState(latest, off, now)).toEqual({ state: 'running', since: now - 3_600_000 });
    expect(currentState(latest, off, now + off)).toEqual({ state: 'unknown', since: now - 60_000 + off });
    expect(currentState(null, off, now)).toEqual({ state: 'unknown', since: null });
  });

  it('is online only when the last status did not say offline and evidence is fresh', () => {
    const fresh = { lastReceivedAt: now - 1000, lastSeen: now - 1000 };
    expect(isOnline({ online: 1, ...fresh }, off, now)).toBe(true);
    expect(isOnline({ online: null, ...fresh }, off, now)).toBe(true);
    expect(isOnline({ online: 0, ...fresh }, off, now)).toBe(false);
    expect(isOnline({ online: 1, lastReceivedAt: now - off, lastSeen: now - 1000 }, off, now)).toBe(false);
    expect(isOnline({ online: null, lastReceivedAt: null, lastSeen: null }, off, now)).toBe(false);
  });

  it('is not online for an instrument silent for 100 days, even when its old data arrives just now', () => {
    // An agent back after an outage replays its outbox: arrival is fresh, the evidence is not.
    expect(isOnline({ online: 1, lastReceivedAt: now - 1000, lastSeen: now - 100 * DAY_MS }, off, now)).toBe(
      false,
    );
  });

  it('follows the link state of the inputs the agent reports', () => {
    const fresh = { online: 1, lastReceivedAt: now - 1000, lastSeen: now - 1000 };
    expect(isOnline({ ...fresh, inputs: [{ connected: false }, { connected: false }] }, off, now)).toBe(
      false,
    );
    expect(isOnline({ ...fresh, inputs: [{ connected: false }, { connected: true }] }, off, now)).toBe(true);
    expect(isOnline({ ...fresh, inputs: [] }, off, now)).toBe(true);
  });
});
