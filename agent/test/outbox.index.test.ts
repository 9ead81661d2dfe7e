import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '../src/outbox.ts';
import { ACKED, DROPPED, GONE, LIVE, OutboxIndex } from '../src/outbox-index.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-outbox-index-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('outbox index', () => {
  it('holds ids densely: skipped ids become gone rows, the head drops dead rows and gives back chunks', () => {
    const index = new OutboxIndex();
    index.push(10, 0, 0);
    index.push(13, 1, 100);
    expect(index.size).toBe(4);
    expect(index.live).toBe(2);
    expect(index.find(11)).toBe(1);
    expect(index.offset(1)).toBe(GONE);
    expect(index.status(1)).toBe(ACKED);
    expect(index.kind(3)).toBe(1);
    expect(index.find(9)).toBe(-1);
    expect(index.firstRowAbove(11)).toBe(2);
    expect(() => index.push(12, 0, 0)).toThrow(/does not follow/);
    index.setStatus(0, ACKED);
    expect(index.advanceHead()).toBe(13);
    expect(index.id(0)).toBe(13);
    index.setStatus(0, DROPPED);
    expect(index.live).toBe(0);
    expect(index.advanceHead()).toBeNull();
    // 200,000 rows then all acked: the chunks go, one is kept.
    for (let id = 100; id < 200_100; id++) index.push(id, 0, id);
    expect(index.heapBytes).toBeGreaterThan(200_000 * 5);
    for (let row = 0; row < index.size; row++) index.setStatus(row, ACKED);
    expect(index.advanceHead()).toBeNull();
    expect(index.heapBytes).toBeLessThanOrEqual(65536 * 5);
    index.push(300_000, 2, 7);
    expect(index.status(0)).toBe(LIVE);
    expect(index.id(0)).toBe(300_000);
  });

  it('costs under 8 bytes per unsent message (it was about 100)', () => {
    const box = Outbox.open(join(root, 'many'), { maxBytes: 256 * 2 ** 20, fsync: false });
    for (let i = 0; i < 300_000; i++) box.append('telemetry', { ts: 1e12 + i, metrics: { power_w: i } });
    expect(box.stats().pending).toBe(300_000);
    expect(box.indexBytes / 300_000).toBeLessThan(8);
    box.close();
    // The same after a restart, which indexes what it finds on disk.
    const again = Outbox.open(join(root, 'many'), { maxBytes: 256 * 2 ** 20, fsync: false });
    expect(again.stats().pending).toBe(300_000);
    expect(again.indexBytes / 300_000).toBeLessThan(8);
    expect(again.next()?.payload.seq).toBe(1);
    expect(again.next(150_000)?.payload.metrics).toEqual({ power_w: 150_000 });
    again.close();
  });
});
