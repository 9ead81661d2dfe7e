import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_KINDS, Outbox, type OutboxKind, outboxDiskBytes } from '../src/outbox.ts';

const root = mkdtempSync(join(tmpdir(), 'dayi-outbox-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `box${++n}`);

const T0 = Date.UTC(2026, 10, 2);
const telemetry = (i: number) => ({ ts: T0 + i * 1000, metrics: { power_w: 100 + i } });
const state = (i: number) => ({ ts: T0 + i * 1000, state: 'running', since: T0 });

/** Reopening without close() is what a kill -9 leaves behind. */
const crashAndReopen = (dir: string, maxBytes = 1 << 20) => Outbox.open(dir, { maxBytes, fsync: false });

describe('outbox on disk', () => {
  it('keeps FIFO order and per-kind seq, and deletes only what was acked', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 1 << 20, fsync: false });
    const a = box.append('telemetry', telemetry(1));
    const b = box.append('state', state(2));
    const c = box.append('telemetry', telemetry(3));
    expect([a.payload.seq, b.payload.seq, c.payload.seq]).toEqual([1, 1, 2]);
    expect(box.next()?.id).toBe(a.id);
    expect(box.next(a.id)?.id).toBe(b.id);
    box.ack(b.id); // out of order: a stays
    expect(box.pending().map((m) => m.id)).toEqual([a.id, c.id]);
    box.ack(a.id);
    box.ack(a.id); // a repeated PUBACK is harmless
    expect(box.pending().map((m) => m.payload)).toEqual([{ ...telemetry(3), seq: 2, epoch: box.epoch }]);

    const again = crashAndReopen(dir);
    expect(again.pending().map((m) => m.id)).toEqual([c.id]);
    // the epoch stays with the outbox folder: (epoch, seq) names a message for good
    expect(again.epoch).toBe(box.epoch);
    expect(box.epoch).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(Outbox.open(fresh(), { maxBytes: 1 << 20, fsync: false }).epoch).not.toBe(box.epoch);
    // seq keeps rising across restarts, per kind.
    expect(again.append('telemetry', telemetry(4)).payload.seq).toBe(3);
    expect(again.append('state', state(5)).payload.seq).toBe(2);
    expect(again.append('event', { ts: T0, type: 'x', severity: 'info' }).payload.seq).toBe(1);
  });

  it('with fsync (the default) appends and acks survive a reopen the same way', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 1 << 20 });
    const a = box.append('state', state(1));
    box.append('telemetry', telemetry(2));
    box.ack(a.id);
    const again = Outbox.open(dir, { maxBytes: 1 << 20 });
    expect(again.pending().map((m) => [m.kind, m.payload.seq])).toEqual([['telemetry', 1]]);
    again.close();
    expect(() => again.append('telemetry', telemetry(3))).toThrow(/closed/);
  });

  it('seq survives even when every segment was acked and deleted', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 8192, fsync: false });
    for (let i = 0; i < 200; i++) box.ack(box.append('telemetry', telemetry(i)).id);
    expect(box.stats().pending).toBe(0);
    expect(outboxDiskBytes(dir)).toBeLessThan(2048);
    expect(crashAndReopen(dir, 8192).append('telemetry', telemetry(300)).payload.seq).toBe(201);
  });

  it('a torn last write (power loss mid-append) is detected, skipped and cut off', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 1 << 20, fsync: false });
    box.append('state', state(1));
    box.append('telemetry', telemetry(2));
    const seg = readdirSync(dir).find((f) => f.endsWith('.seg'))!;
    const whole = readFileSync(join(dir, seg));
    // Half a record at the end, as a crash during write() leaves it.
    appendFileSync(join(dir, seg), whole.subarray(0, 30));
    const warnings: string[] = [];
    const again = Outbox.open(dir, { maxBytes: 1 << 20, fsync: false, onWarning: (m) => warnings.push(m) });
    expect(again.pending().map((m) => m.kind)).toEqual(['state', 'telemetry']);
    expect(warnings.join()).toMatch(/torn write/);
    again.append('telemetry', telemetry(3));
    expect(
      crashAndReopen(dir)
        .pending()
        .map((m) => m.payload.seq),
    ).toEqual([1, 1, 2]);
  });

  it('a damaged record (bad CRC) is skipped and counted, the others come back', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 1 << 20, fsync: false });
    for (let i = 0; i < 3; i++) box.append('telemetry', telemetry(i));
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg'))!);
    const text = readFileSync(file, 'utf8').split('\n');
    text[1] = text[1]!.replace('"power_w":101', '"power_w":999');
    writeFileSync(file, text.join('\n'));
    const again = crashAndReopen(dir);
    expect(again.pending().map((m) => m.payload.metrics)).toEqual([{ power_w: 100 }, { power_w: 102 }]);
    expect(again.stats().corrupt).toBe(1);
  });

  it('when full, drops the oldest telemetry, never state changes, and reports a data_gap once there is room', () => {
    const dir = fresh();
    const maxBytes = 8192;
    const box = Outbox.open(dir, { maxBytes, fsync: false });
    const states: number[] = [];
    for (let i = 0; i < 400; i++) {
      if (i % 50 === 0) states.push(box.append('state', state(i)).payload.seq);
      else box.append('telemetry', telemetry(i));
      expect(outboxDiskBytes(dir)).toBeLessThanOrEqual(maxBytes);
    }
    const pending = box.pending();
    // Every state change is still there, in order.
    expect(pending.filter((m) => m.kind === 'state').map((m) => m.payload.seq)).toEqual(states);
    // The telemetry kept is the newest, contiguous up to the end.
    const tel = pending.filter((m) => m.kind === 'telemetry').map((m) => m.payload.seq);
    expect(tel.length).toBeGreaterThan(10);
    expect(tel.at(-1)).toBe(392);
    for (let i = 1; i < tel.length; i++) expect(tel[i]).toBe(tel[i - 1]! + 1);
    const gap = box.gap!;
    expect(gap.telemetry).toBe(392 - tel.length);
    expect(gap.from).toBe(T0 + 1000);
    // FIFO overall: ids rise.
    const ids = pending.map((m) => m.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    // The gap survives a crash, and is reported as an event when the outbox has room again.
    const again = crashAndReopen(dir, maxBytes);
    expect(again.gap).toEqual(gap);
    for (const m of again.pending()) again.ack(m.id);
    again.append('telemetry', telemetry(1000));
    const [event, last] = again.pending();
    expect(event?.kind).toBe('event');
    expect(event?.payload).toMatchObject({
      type: 'data_gap',
      severity: 'warning',
      detail: { dropped: { telemetry: gap.telemetry }, from: gap.from, to: gap.to },
    });
    expect(last?.payload.metrics).toEqual({ power_w: 1100 });
    expect(again.gap).toBeNull();
  });

  it('never drops a message that is in flight', () => {
    const dir = fresh();
    const box = Outbox.open(dir, { maxBytes: 4096, fsync: false });
    const first = box.append('telemetry', telemetry(0));
    box.inflight.add(first.id);
    for (let i = 1; i < 200; i++) box.append('telemetry', telemetry(i));
    expect(box.pending()[0]?.id).toBe(first.id);
  });

  it('property: append/ack/crash sequences never lose an un-acked state and keep FIFO order', () => {
    type Op =
      | { op: 'append'; kind: OutboxKind }
      | { op: 'ack'; count: number }
      | { op: 'crash'; torn: boolean }
      | { op: 'burst'; count: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(...OUTBOX_KINDS).map((kind) => ({ op: 'append' as const, kind })),
      },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 1, max: 5 }).map((count) => ({ op: 'ack' as const, count })),
      },
      { weight: 1, arbitrary: fc.boolean().map((torn) => ({ op: 'crash' as const, torn })) },
      {
        weight: 1,
        arbitrary: fc.integer({ min: 5, max: 40 }).map((count) => ({ op: 'burst' as const, count })),
      },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const dir = fresh();
        const maxBytes = 4096;
        let box = Outbox.open(dir, { maxBytes, fsync: false });
        // The model: ids not acked, with their kind; telemetry may disappear (dropped), nothing else.
        const model = new Map<number, OutboxKind>();
        const lastSeq: Record<string, number> = { telemetry: 0, state: 0, event: 0 };
        const append = (kind: OutboxKind, i: number) => {
          const m = box.append(kind, kind === 'state' ? state(i) : telemetry(i));
          expect(m.payload.seq).toBe(lastSeq[kind]! + 1);
          lastSeq[kind] = m.payload.seq;
          model.set(m.id, kind);
        };
        ops.forEach((o, i) => {
          if (o.op === 'append') append(o.kind, i);
          else if (o.op === 'burst') for (let k = 0; k < o.count; k++) append('telemetry', i * 100 + k);
          else if (o.op === 'ack') {
            for (const m of box.pending().slice(0, o.count)) {
              box.ack(m.id);
              model.delete(m.id);
            }
          } else {
            if (o.torn) {
              const seg = readdirSync(dir)
                .filter((f) => f.endsWith('.seg'))
                .sort()
                .at(-1);
              if (seg) appendFileSync(join(dir, seg), '0badc0de {"id":');
            }
            box = Outbox.open(dir, { maxBytes, fsync: false });
          }
          const pending = box.pending();
          const ids = pending.map((m) => m.id);
          // FIFO: ids strictly rising.
          for (let k = 1; k < ids.length; k++) expect(ids[k]).toBeGreaterThan(ids[k - 1]!);
          // Nothing acked comes back; nothing but telemetry (and data_gap events) is ever lost.
          for (const m of pending) {
            if (!model.has(m.id)) {
              expect(m.kind).toBe('event');
              expect(m.payload.type).toBe('data_gap');
              model.set(m.id, 'event');
              lastSeq.event = Math.max(lastSeq.event!, m.payload.seq);
            }
          }
          const present = new Set(ids);
          for (const [id, kind] of model) {
            if (!present.has(id)) {
              expect(kind, `lost ${kind} ${id}`).toBe('telemetry');
              model.delete(id);
            }
          }
        });
        box.close();
      }),
      { numRuns: 150 },
    );
  });
});
