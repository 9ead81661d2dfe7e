import { describe, expect, it } from 'vitest';
import { DueQueue } from '../src/alerts/due-queue.ts';

function popAll(q: DueQueue, now: number): string[] {
  const out: string[] = [];
  q.popDue(now, (k) => out.push(k));
  return out;
}

describe('DueQueue', () => {
  it('pops keys in time order, each once, only when due', () => {
    const q = new DueQueue();
    q.schedule('c', 30);
    q.schedule('a', 10);
    q.schedule('b', 20);
    expect(popAll(q, 9)).toEqual([]);
    expect(popAll(q, 20)).toEqual(['a', 'b']);
    expect(popAll(q, 100)).toEqual(['c']);
    expect(popAll(q, 100)).toEqual([]);
    expect(q.size).toBe(0);
  });

  it('a key scheduled again keeps only its last time; a cancelled key never pops', () => {
    const q = new DueQueue();
    q.schedule('a', 10);
    q.schedule('a', 50);
    q.schedule('b', 10);
    q.cancel('b');
    expect(popAll(q, 20)).toEqual([]);
    expect(popAll(q, 50)).toEqual(['a']);
    q.schedule('c', Number.POSITIVE_INFINITY);
    expect(popAll(q, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it('matches a sorted list under many random schedules and cancels', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const q = new DueQueue();
    const model = new Map<string, number>();
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(rnd() * 500)}`;
      const r = rnd();
      if (r < 0.6) {
        const at = now + Math.floor(rnd() * 1000);
        q.schedule(key, at);
        model.set(key, at);
      } else if (r < 0.7) {
        q.cancel(key);
        model.delete(key);
      } else {
        now += Math.floor(rnd() * 50);
        const want = [...model].filter(([, at]) => at <= now).map(([k]) => k);
        for (const k of want) model.delete(k);
        expect(popAll(q, now).sort()).toEqual(want.sort());
      }
    }
    expect(q.size).toBe(model.size);
  });
});
