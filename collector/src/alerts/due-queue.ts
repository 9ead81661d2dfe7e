/**
 * Keys ordered by the time they are next due (a binary min-heap). The detection pass keeps the
 * instruments whose reorder buffer, replay or point findings wait for the arrival clock here, so a
 * pass looks only at those that are due instead of at every waiting instrument: with 16,000
 * instruments each holding a message or two in its buffer, scanning them all several times a
 * second was the pass's main cost.
 *
 * One entry per key: scheduling a key again replaces its time. Keys may be popped early (before
 * anything is really due); the caller's check then finds nothing to do.
 */
export class DueQueue {
  private readonly at = new Map<string, number>();
  private heap: { at: number; key: string }[] = [];

  get size(): number {
    return this.at.size;
  }

  /** Schedules `key` at `at` (replacing an earlier schedule of it). */
  schedule(key: string, at: number): void {
    if (this.at.get(key) === at) return;
    this.at.set(key, at);
    this.push({ at, key });
    // Entries replaced by a later schedule are dropped lazily; rebuild when they dominate.
    if (this.heap.length > 2 * this.at.size + 1024) this.rebuild();
  }

  cancel(key: string): void {
    this.at.delete(key);
  }

  /** Removes and returns every key due at or before `now`. */
  popDue(now: number, into: (key: string) => void): void {
    const h = this.heap;
    while (h.length > 0 && h[0]!.at <= now) {
      const top = this.popTop();
      if (this.at.get(top.key) === top.at) {
        this.at.delete(top.key);
        into(top.key);
      }
    }
  }

  clear(): void {
    this.at.clear();
    this.heap = [];
  }

  private rebuild(): void {
    const entries = [...this.at].map(([key, at]) => ({ at, key }));
    this.heap = [];
    for (const e of entries) this.push(e);
  }

  private push(e: { at: number; key: string }): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private popTop(): { at: number; key: string } {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r]!.at < h[l]!.at ? r : l;
        if (h[c]!.at >= last.at) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
