import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeLine, encodeRecord, scanRecords } from './outbox-framing.ts';

/** What goes through the outbox: everything with a `seq`. `status` is published directly by the session. */
export const OUTBOX_KINDS = ['telemetry', 'state', 'event'] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];

/** A message waiting for its PUBACK, as the session publishes it. */
export interface OutboxMessage {
  id: number;
  kind: OutboxKind;
  payload: Record<string, unknown> & { ts: number; seq: number };
}

/** Telemetry lost because the outbox was full, reported as a `data_gap` event. */
export interface DataGap {
  telemetry: number;
  /** ts range of the dropped telemetry. */
  from: number;
  to: number;
}

export interface OutboxOptions {
  /** Bound on the segment files' total size. State changes and events may exceed it; telemetry never does. */
  maxBytes: number;
  /** fdatasync after each append (power-loss safety); default true. */
  fsync?: boolean;
  /** Called when something worth a log line happens (drops, torn tails). */
  onWarning?: (message: string, context: Record<string, unknown>) => void;
}

export interface OutboxStats {
  /** Un-acked messages. */
  pending: number;
  /** Bytes of segment files on disk. */
  bytes: number;
  /** Telemetry dropped since open because the outbox was full. */
  dropped: number;
  /** Records skipped at open because their CRC failed (torn or damaged writes). */
  corrupt: number;
}

interface Segment {
  firstId: number;
  file: string;
  size: number;
  live: number;
  fd: number | null;
}

interface Entry {
  id: number;
  kind: OutboxKind;
  ts: number;
  seg: Segment;
  offset: number;
  length: number;
  /** 0 live, 1 acked, 2 dropped. */
  status: 0 | 1 | 2;
}

interface Meta {
  version: 1;
  /** Every id below this has been acked (or dropped). */
  ackedBelow: number;
  nextId: number;
  /** The last seq handed out per kind, so seq keeps rising across restarts. */
  seq: Record<OutboxKind, number>;
  gap: DataGap | null;
  /**
   * Made when the outbox is created and kept with it: seq starts again only with a new outbox, so
   * (epoch, seq) names a message for good and the collector sees a lost outbox as a new epoch.
   */
  epoch: string;
}

const META = 'meta.json';
const SEGMENT = /^(\d{16})\.seg$/;

/**
 * A durable FIFO of messages for one instrument, bounded on disk.
 *
 * Append-only segment files of CRC-framed JSON lines; `meta.json` holds the ack pointer, the seq
 * counters and a pending data gap. An entry leaves only by `ack` (its PUBACK) or, for telemetry
 * when full, by being dropped oldest first; a dropped range is reported once as a `data_gap` event.
 * After a crash (`kill -9`) the un-acked entries come back in order: some may be sent twice, which
 * the collector drops by seq. Synchronous I/O on purpose: each call is small, and ordering is simple.
 */
export class Outbox {
  readonly dir: string;
  readonly maxBytes: number;
  /** Ids handed to MQTT and not yet acked: never dropped, since the broker may already have them. */
  readonly inflight = new Set<number>();
  private readonly fsync: boolean;
  private readonly segmentBytes: number;
  private readonly onWarning: NonNullable<OutboxOptions['onWarning']>;
  private segments: Segment[] = [];
  private entries: Entry[] = [];
  private head = 0;
  private readonly byId = new Map<number, Entry>();
  private meta: Meta;
  private bytes = 0;
  private dropped = 0;
  private corrupt = 0;
  private closed = false;

  private constructor(dir: string, opts: OutboxOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.fsync = opts.fsync ?? true;
    this.onWarning = opts.onWarning ?? (() => {});
    // Several segments so that dropping telemetry rewrites a small file, not the whole outbox.
    this.segmentBytes = Math.max(1024, Math.min(16 * 1024 ** 2, Math.floor(opts.maxBytes / 8)));
    this.meta = {
      version: 1,
      ackedBelow: 0,
      nextId: 1,
      seq: { telemetry: 0, state: 0, event: 0 },
      gap: null,
      epoch: newEpoch(),
    };
  }

  /** This outbox's epoch, sent in every payload with a seq (`epoch`). */
  get epoch(): string {
    return this.meta.epoch;
  }

  static open(dir: string, opts: OutboxOptions): Outbox {
    mkdirSync(dir, { recursive: true });
    const box = new Outbox(dir, opts);
    box.load();
    return box;
  }

  /** Appends a message, giving it the next seq of its kind; returns it as it will be published. */
  append(kind: OutboxKind, body: Record<string, unknown> & { ts: number }): OutboxMessage {
    this.assertOpen();
    // Report a gap only once the pressure is clearly over (half empty), not between two drops:
    // otherwise a long outage would fill the outbox with data_gap events, which are never dropped.
    if (this.meta.gap && this.bytes <= this.maxBytes / 2) this.flushGap(body.ts);
    const id = this.meta.nextId;
    const seq = this.meta.seq[kind] + 1;
    const payload = { ...body, ts: body.ts, seq, epoch: this.meta.epoch };
    const line = encodeRecord({ id, kind, payload });
    if (kind === 'telemetry' || this.bytes + line.length > this.maxBytes) this.makeRoom(line.length);
    this.meta.nextId = id + 1;
    this.meta.seq[kind] = seq;
    this.write(id, kind, body.ts, line);
    return { id, kind, payload };
  }

  /**
   * Appends the pending `data_gap` event, if telemetry was dropped. The outbox does this itself once
   * it is half empty again (after the backlog drained). The event may exceed the bound.
   */
  flushGap(ts: number): OutboxMessage | null {
    const gap = this.meta.gap;
    if (!gap) return null;
    this.meta.gap = null;
    const id = this.meta.nextId;
    const seq = this.meta.seq.event + 1;
    const payload = {
      ts,
      seq,
      epoch: this.meta.epoch,
      type: 'data_gap',
      severity: 'warning',
      detail: {
        reason: 'outbox full',
        dropped: { telemetry: gap.telemetry },
        from: gap.from,
        to: gap.to,
      },
    };
    this.meta.nextId = id + 1;
    this.meta.seq.event = seq;
    this.write(id, 'event', ts, encodeRecord({ id, kind: 'event', payload }));
    this.saveMeta(false);
    return { id, kind: 'event', payload };
  }

  /** The oldest un-acked message with id above `afterId` (0: the oldest), or null. */
  next(afterId = 0): OutboxMessage | null {
    this.assertOpen();
    for (let i = this.firstIndexAbove(afterId); i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.status === 0) return this.read(e);
    }
    return null;
  }

  /** All un-acked messages, oldest first (reads them from disk: for tests and tools). */
  pending(): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.status === 0) out.push(this.read(e));
    }
    return out;
  }

  /** Its PUBACK arrived: the message is gone for good. Unknown or repeated ids are ignored. */
  ack(id: number): void {
    // A PUBACK arriving while shutting down is harmless: the entry is simply sent again next time.
    if (this.closed) return;
    this.inflight.delete(id);
    const e = this.byId.get(id);
    if (e?.status !== 0) return;
    e.status = 1;
    this.byId.delete(id);
    e.seg.live--;
    this.advanceHead();
  }

  stats(): OutboxStats {
    return { pending: this.byId.size, bytes: this.bytes, dropped: this.dropped, corrupt: this.corrupt };
  }

  /** The pending data gap (telemetry dropped and not yet reported). */
  get gap(): DataGap | null {
    return this.meta.gap ? { ...this.meta.gap } : null;
  }

  close(): void {
    if (this.closed) return;
    this.saveMeta(this.fsync);
    for (const s of this.segments) this.closeSegment(s);
    this.closed = true;
  }

  // --- internals -------------------------------------------------------------------------------

  private load(): void {
    this.meta = readMeta(join(this.dir, META)) ?? this.meta;
    const files = readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ firstId: Number(m[1]), file: join(this.dir, m[0]) }))
      .sort((a, b) => a.firstId - b.firstId);
    let maxId = this.meta.nextId - 1;
    for (const f of files) {
      const buf = readFileSync(f.file);
      const scan = scanRecords(buf);
      if (scan.goodLength < buf.length) {
        // A torn last write (power loss mid-append): cut it so the next append starts on a clean line.
        truncateSync(f.file, scan.goodLength);
        this.onWarning('outbox: torn write at the end of a segment was discarded', {
          file: f.file,
          bytes: buf.length - scan.goodLength,
        });
      }
      if (scan.corrupt > 0) {
        this.corrupt += scan.corrupt;
        this.onWarning('outbox: damaged records skipped', { file: f.file, records: scan.corrupt });
      }
      const seg: Segment = { firstId: f.firstId, file: f.file, size: scan.goodLength, live: 0, fd: null };
      this.segments.push(seg);
      this.bytes += seg.size;
      for (const { record, offset, length } of scan.records) {
        const kind = record.kind as OutboxKind;
        if (!OUTBOX_KINDS.includes(kind)) continue;
        maxId = Math.max(maxId, record.id);
        const seq = Number(record.payload.seq);
        if (Number.isSafeInteger(seq)) this.meta.seq[kind] = Math.max(this.meta.seq[kind], seq);
        if (record.id < this.meta.ackedBelow || this.byId.has(record.id)) continue;
        const e: Entry = {
          id: record.id,
          kind,
          ts: Number(record.payload.ts),
          seg,
          offset,
          length,
          status: 0,
        };
        this.entries.push(e);
        this.byId.set(e.id, e);
        seg.live++;
      }
    }
    this.entries.sort((a, b) => a.id - b.id);
    this.meta.nextId = maxId + 1;
    // Segments with nothing left to send are garbage (acked before a crash removed them).
    for (const s of [...this.segments]) if (s.live === 0) this.removeSegment(s);
    this.saveMeta(this.fsync);
  }

  private write(id: number, kind: OutboxKind, ts: number, line: Buffer): void {
    let seg = this.segments[this.segments.length - 1];
    if (!seg || seg.size + line.length > this.segmentBytes) {
      seg = {
        firstId: id,
        file: join(this.dir, `${String(id).padStart(16, '0')}.seg`),
        size: 0,
        live: 0,
        fd: null,
      };
      this.segments.push(seg);
    }
    const fd = this.fdOf(seg);
    writeSync(fd, line, 0, line.length, seg.size);
    if (this.fsync) fdatasyncSync(fd);
    const e: Entry = { id, kind, ts, seg, offset: seg.size, length: line.length, status: 0 };
    seg.size += line.length;
    seg.live++;
    this.bytes += line.length;
    this.entries.push(e);
    this.byId.set(id, e);
  }

  /** Frees `needed` bytes by dropping the oldest telemetry (never states or events). */
  private makeRoom(needed: number): void {
    if (this.bytes + needed <= this.maxBytes) return;
    // Free a little more than needed, so a full outbox rewrites a segment now and then, not per append.
    const goal = needed + Math.floor(this.segmentBytes / 4);
    for (const seg of [...this.segments]) {
      if (this.bytes + goal <= this.maxBytes) return;
      const droppable = this.entriesOf(seg).filter(
        (e) => e.status === 0 && e.kind === 'telemetry' && !this.inflight.has(e.id),
      );
      const garbage = seg.size - this.entriesOf(seg).reduce((n, e) => n + (e.status === 0 ? e.length : 0), 0);
      if (droppable.length === 0 && garbage === 0) continue;
      let freed = garbage;
      const drop: Entry[] = [];
      for (const e of droppable) {
        if (this.bytes - freed + goal <= this.maxBytes) break;
        drop.push(e);
        freed += e.length;
      }
      this.compact(seg, drop);
    }
    if (this.bytes + needed > this.maxBytes)
      this.onWarning('outbox: full of state changes and events; keeping them beyond maxBytes', {
        bytes: this.bytes,
        maxBytes: this.maxBytes,
      });
  }

  /** Rewrites a segment without its acked entries and without `drop`; atomic by rename. */
  private compact(seg: Segment, drop: Entry[]): void {
    const dropIds = new Set(drop.map((d) => d.id));
    for (const d of drop) {
      d.status = 2;
      this.byId.delete(d.id);
      seg.live--;
      const g = this.meta.gap;
      this.meta.gap = g
        ? { telemetry: g.telemetry + 1, from: Math.min(g.from, d.ts), to: Math.max(g.to, d.ts) }
        : { telemetry: 1, from: d.ts, to: d.ts };
      this.dropped++;
    }
    if (drop.length > 0)
      this.onWarning('outbox full: dropped the oldest telemetry', {
        dropped: drop.length,
        gap: this.meta.gap,
      });
    // The gap and the seq counters are durable before the entries disappear.
    this.saveMeta(this.fsync);
    const keep = this.entriesOf(seg).filter((e) => e.status === 0 && !dropIds.has(e.id));
    if (keep.length === 0) {
      this.removeSegment(seg);
      this.advanceHead();
      return;
    }
    const fd = this.fdOf(seg);
    const parts: Buffer[] = [];
    let offset = 0;
    const offsets: number[] = [];
    for (const e of keep) {
      const buf = Buffer.alloc(e.length);
      readSync(fd, buf, 0, e.length, e.offset);
      parts.push(buf);
      offsets.push(offset);
      offset += e.length;
    }
    const tmp = `${seg.file}.tmp`;
    writeFileSync(tmp, Buffer.concat(parts));
    if (this.fsync) syncFile(tmp);
    this.closeSegment(seg);
    renameSync(tmp, seg.file);
    this.bytes -= seg.size - offset;
    seg.size = offset;
    keep.forEach((e, i) => {
      e.offset = offsets[i]!;
    });
    this.advanceHead();
  }

  private entriesOf(seg: Segment): Entry[] {
    const out: Entry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.seg === seg) out.push(e);
      else if (e.seg.firstId > seg.firstId) break;
    }
    return out;
  }

  private advanceHead(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.status !== 0) this.head++;
    const ackedBelow = this.head < this.entries.length ? this.entries[this.head]!.id : this.meta.nextId;
    const done = this.segments.filter((s) => s.live === 0 && s !== this.segments[this.segments.length - 1]);
    const moved = ackedBelow !== this.meta.ackedBelow;
    this.meta.ackedBelow = ackedBelow;
    if (done.length > 0) {
      // The pointer (and seq counters) must be on disk before the records vanish.
      this.saveMeta(this.fsync);
      for (const s of done) this.removeSegment(s);
    } else if (moved) this.saveMeta(false);
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  private firstIndexAbove(afterId: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.id <= afterId) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private read(e: Entry): OutboxMessage {
    const buf = Buffer.alloc(e.length - 1);
    readSync(this.fdOf(e.seg), buf, 0, buf.length, e.offset);
    const record = decodeLine(buf);
    if (!record || record.id !== e.id) throw new Error(`outbox: record ${e.id} unreadable in ${e.seg.file}`);
    return { id: e.id, kind: e.kind, payload: record.payload as OutboxMessage['payload'] };
  }

  private fdOf(seg: Segment): number {
    if (seg.fd === null) seg.fd = openSync(seg.file, 'a+');
    return seg.fd;
  }

  private closeSegment(seg: Segment): void {
    if (seg.fd !== null) closeSync(seg.fd);
    seg.fd = null;
  }

  private removeSegment(seg: Segment): void {
    this.closeSegment(seg);
    rmSync(seg.file, { force: true });
    this.bytes -= seg.size;
    this.segments = this.segments.filter((s) => s !== seg);
  }

  private saveMeta(sync: boolean): void {
    const file = join(this.dir, META);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.meta));
    if (sync) syncFile(tmp);
    renameSync(tmp, file);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`outbox ${this.dir} is closed`);
  }
}

function readMeta(file: string): Meta | null {
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as Partial<Meta>;
    if (m.version !== 1 || typeof m.ackedBelow !== 'number' || typeof m.nextId !== 'number') return null;
    return {
      version: 1,
      ackedBelow: m.ackedBelow,
      nextId: m.nextId,
      seq: { telemetry: 0, state: 0, event: 0, ...m.seq },
      gap: m.gap ?? null,
      // an outbox made by an agent before epochs gets one now (the collector takes a first epoch
      // as a start, not a restart)
      epoch: typeof m.epoch === 'string' && EPOCH_PATTERN.test(m.epoch) ? m.epoch : newEpoch(),
    };
  } catch {
    return null;
  }
}

const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Unique, not secret: the time it was made and 52 random bits. Math.random rather than node:crypto,
 * which the agent's service process does not load otherwise (docs/performance.md, "Agent").
 */
function newEpoch(): string {
  const random = Math.floor(Math.random() * 2 ** 52).toString(36);
  return `${Date.now().toString(36)}-${random}`;
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Disk use of an outbox folder (segment files), for tools and tests. */
export function outboxDiskBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (SEGMENT.test(f)) n += statSync(join(dir, f)).size;
  return n;
}

/** What an outbox folder holds for sending, read from disk without opening (or changing) it. */
export interface OutboxBacklog {
  /** Messages not acknowledged yet, as a restarted agent would send them. */
  pending: number;
  bytes: number;
  /** Event time of the oldest and newest of them. */
  oldest: number | null;
  newest: number | null;
}

/**
 * The backlog of an outbox folder, for `dayi agent status`: every intact record at or above the
 * ack pointer. Read-only, so it may run beside the agent; while the agent runs, a few messages
 * acknowledged out of order may still count (the running agent's own figure is exact).
 */
export function readOutboxBacklog(dir: string): OutboxBacklog | null {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => SEGMENT.test(f));
  } catch {
    return null;
  }
  const ackedBelow = readMeta(join(dir, META))?.ackedBelow ?? 0;
  const backlog: OutboxBacklog = { pending: 0, bytes: 0, oldest: null, newest: null };
  for (const f of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(dir, f));
    } catch {
      continue; // removed or compacted under our feet: the agent runs
    }
    backlog.bytes += buf.length;
    for (const { record } of scanRecords(buf).records) {
      if (record.id < ackedBelow || !OUTBOX_KINDS.includes(record.kind as OutboxKind)) continue;
      backlog.pending++;
      const ts = Number(record.payload.ts);
      if (!Number.isFinite(ts)) continue;
      backlog.oldest = backlog.oldest === null ? ts : Math.min(backlog.oldest, ts);
      backlog.newest = backlog.newest === null ? ts : Math.max(backlog.newest, ts);
    }
  }
  return backlog;
}
