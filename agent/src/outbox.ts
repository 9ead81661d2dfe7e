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
import { decodeLine, encodeRecord, forEachRecord, type OutboxRecord, scanRecords } from './outbox-framing.ts';
import { ACKED, DROPPED, GONE, type KindCode, LIVE, OutboxIndex } from './outbox-index.ts';

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
const TELEMETRY: KindCode = 0;
/** Compaction copies through a buffer this big at most. */
const COPY_CHUNK = 256 * 1024;
/** Start-up reads segments through a buffer this big (more only for a longer line). */
const SCAN_CHUNK = 256 * 1024;

type OutboxRecordOf = { id: number; kind: string; payload: OutboxMessage['payload'] };

function kindCode(kind: OutboxKind): KindCode {
  return OUTBOX_KINDS.indexOf(kind) as KindCode;
}
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
  /** Sorted by firstId; a segment holds the ids from its firstId up to the next one's. */
  private segments: Segment[] = [];
  /** Where each message waiting for its PUBACK lies: 5 bytes each (outbox-index.ts). */
  private readonly index = new OutboxIndex();
  private meta: Meta;
  private bytes = 0;
  private dropped = 0;
  private corrupt = 0;
  private closed = false;
  /** Reused for every read: the session reads each message once, a compaction tens of thousands. */
  private readBuf = Buffer.allocUnsafe(4096);

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
    this.write(id, kind, line);
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
    this.write(id, 'event', encodeRecord({ id, kind: 'event', payload }));
    this.saveMeta(false);
    return { id, kind: 'event', payload };
  }

  /** The oldest un-acked message with id above `afterId` (0: the oldest), or null. */
  next(afterId = 0): OutboxMessage | null {
    this.assertOpen();
    const index = this.index;
    for (let row = index.firstRowAbove(afterId); row < index.size; row++)
      if (index.status(row) === LIVE) return this.read(row);
    return null;
  }

  /** All un-acked messages, oldest first (reads them from disk: for tests and tools). */
  pending(): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    for (let row = 0; row < this.index.size; row++)
      if (this.index.status(row) === LIVE) out.push(this.read(row));
    return out;
  }

  /** Its PUBACK arrived: the message is gone for good. Unknown or repeated ids are ignored. */
  ack(id: number): void {
    // A PUBACK arriving while shutting down is harmless: the entry is simply sent again next time.
    if (this.closed) return;
    this.inflight.delete(id);
    const row = this.index.find(id);
    if (row < 0 || this.index.status(row) !== LIVE) return;
    this.index.setStatus(row, ACKED);
    this.segmentOf(id).live--;
    this.advanceHead();
  }

  stats(): OutboxStats {
    return { pending: this.index.live, bytes: this.bytes, dropped: this.dropped, corrupt: this.corrupt };
  }

  /** The pending data gap (telemetry dropped and not yet reported). */
  get gap(): DataGap | null {
    return this.meta.gap ? { ...this.meta.gap } : null;
  }

  /** Bytes the index holds in memory (its arrays' capacity): for tests and docs/performance.md. */
  get indexBytes(): number {
    return this.index.heapBytes;
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
    let lastId = -1;
    let misplaced = 0;
    files.forEach((f, i) => {
      const limit = files[i + 1]?.firstId ?? Number.POSITIVE_INFINITY;
      const seg: Segment = { firstId: f.firstId, file: f.file, size: 0, live: 0, fd: null };
      // Records are indexed as they are scanned, not collected first: a full segment is tens of
      // thousands of them, and their objects would cost far more than the index itself.
      const scan = scanSegmentFile(f.file, (record, offset) => {
        const kind = record.kind as OutboxKind;
        if (!OUTBOX_KINDS.includes(kind)) return;
        maxId = Math.max(maxId, record.id);
        const seq = Number(record.payload.seq);
        if (Number.isSafeInteger(seq)) this.meta.seq[kind] = Math.max(this.meta.seq[kind], seq);
        if (record.id < this.meta.ackedBelow || record.id <= lastId) return;
        if (record.id < f.firstId || record.id >= limit) {
          // The outbox never writes such a record; a segment's ids are what locates it in memory.
          misplaced++;
          return;
        }
        this.index.push(record.id, kindCode(kind), offset);
        lastId = record.id;
        seg.live++;
      });
      if (scan.goodLength < scan.size) {
        // A torn last write (power loss mid-append): cut it so the next append starts on a clean line.
        truncateSync(f.file, scan.goodLength);
        this.onWarning('outbox: torn write at the end of a segment was discarded', {
          file: f.file,
          bytes: scan.size - scan.goodLength,
        });
      }
      if (scan.corrupt > 0) {
        this.corrupt += scan.corrupt;
        this.onWarning('outbox: damaged records skipped', { file: f.file, records: scan.corrupt });
      }
      seg.size = scan.goodLength;
      this.segments.push(seg);
      this.bytes += seg.size;
    });
    if (misplaced > 0) {
      this.corrupt += misplaced;
      this.onWarning("outbox: records outside their segment's id range skipped", { records: misplaced });
    }
    this.meta.nextId = maxId + 1;
    // Segments with nothing left to send are garbage (acked before a crash removed them).
    for (const s of [...this.segments]) if (s.live === 0) this.removeSegment(s);
    this.saveMeta(this.fsync);
  }

  private write(id: number, kind: OutboxKind, line: Buffer): void {
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
    this.index.push(id, kindCode(kind), seg.size);
    seg.size += line.length;
    seg.live++;
    this.bytes += line.length;
  }

  /** Frees `needed` bytes by dropping the oldest telemetry (never states or events). */
  private makeRoom(needed: number): void {
    if (this.bytes + needed <= this.maxBytes) return;
    // Free a little more than needed, so a full outbox rewrites a segment now and then, not per append.
    const goal = needed + Math.floor(this.segmentBytes / 4);
    const index = this.index;
    for (const seg of [...this.segments]) {
      if (this.bytes + goal <= this.maxBytes) return;
      let liveBytes = 0;
      let droppable = false;
      this.eachRecord(seg, (row, length) => {
        if (index.status(row) !== LIVE) return true;
        liveBytes += length;
        droppable ||= index.kind(row) === TELEMETRY && !this.inflight.has(index.id(row));
        return true;
      });
      const garbage = seg.size - liveBytes;
      if (!droppable && garbage === 0) continue;
      let freed = garbage;
      const drop: number[] = [];
      this.eachRecord(seg, (row, length) => {
        if (this.bytes - freed + goal <= this.maxBytes) return false;
        if (index.status(row) !== LIVE || index.kind(row) !== TELEMETRY || this.inflight.has(index.id(row)))
          return true;
        drop.push(row);
        freed += length;
        return true;
      });
      this.compact(seg, drop);
    }
    if (this.bytes + needed > this.maxBytes)
      this.onWarning('outbox: full of state changes and events; keeping them beyond maxBytes', {
        bytes: this.bytes,
        maxBytes: this.maxBytes,
      });
  }

  /**
   * Calls `fn(row, length)` for each row of `seg` whose record is in the file, in file order, until
   * it returns false. The index keeps no lengths: a record runs to the next one. (Bytes the index
   * does not know, e.g. a damaged line skipped at start-up, count with the record before them;
   * reads cut at the newline, so they only make that record look longer here.)
   */
  private eachRecord(seg: Segment, fn: (row: number, length: number) => boolean): void {
    const [from, to] = this.rowsOf(seg);
    const index = this.index;
    let prev = -1;
    for (let row = from; row < to; row++) {
      const offset = index.offset(row);
      if (offset === GONE) continue;
      if (prev >= 0 && !fn(prev, offset - index.offset(prev))) return;
      prev = row;
    }
    if (prev >= 0) fn(prev, seg.size - index.offset(prev));
  }

  /** Rewrites a segment without its acked entries and without the rows `drop`; atomic by rename. */
  private compact(seg: Segment, drop: number[]): void {
    const index = this.index;
    for (const row of drop) {
      // The index keeps no timestamps (8 bytes each): the gap's range is read back from disk.
      const ts = Number(this.readRecord(seg, row).payload.ts);
      index.setStatus(row, DROPPED);
      seg.live--;
      const g = this.meta.gap;
      this.meta.gap = g
        ? { telemetry: g.telemetry + 1, from: Math.min(g.from, ts), to: Math.max(g.to, ts) }
        : { telemetry: 1, from: ts, to: ts };
      this.dropped++;
    }
    if (drop.length > 0)
      this.onWarning('outbox full: dropped the oldest telemetry', {
        dropped: drop.length,
        gap: this.meta.gap,
      });
    // The gap and the seq counters are durable before the entries disappear.
    this.saveMeta(this.fsync);
    const [from, to] = this.rowsOf(seg);
    const keep: number[] = [];
    for (let row = from; row < to; row++) if (index.status(row) === LIVE) keep.push(row);
    if (keep.length === 0) {
      this.removeSegment(seg);
      this.advanceHead();
      return;
    }
    // Copied record by record (each cut at its newline) through small buffers, not gathered in memory.
    const fd = this.fdOf(seg);
    const tmp = `${seg.file}.tmp`;
    const out = openSync(tmp, 'w');
    const offsets = new Uint32Array(keep.length);
    let size = 0;
    try {
      let buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(seg.size, 1024)));
      let bufAt = 0;
      let bufLength = 0;
      const outBuf = Buffer.allocUnsafe(COPY_CHUNK);
      let outLength = 0;
      for (let i = 0; i < keep.length; i++) {
        const at = index.offset(keep[i]!);
        let nl = -1;
        for (;;) {
          if (at >= bufAt && at < bufAt + bufLength) {
            nl = buf.indexOf(0x0a, at - bufAt);
            if (nl >= 0 && nl < bufLength) break;
          }
          // Refill from this record on; a record longer than the buffer makes it grow.
          if (at === bufAt && bufLength === buf.length) buf = Buffer.allocUnsafe(buf.length * 2);
          bufAt = at;
          bufLength = readSync(fd, buf, 0, buf.length, at);
          if (bufLength === 0 || (bufLength < buf.length && buf.subarray(0, bufLength).indexOf(0x0a) < 0))
            throw new Error(`outbox: record ${index.id(keep[i]!)} unreadable in ${seg.file}`);
        }
        const line = buf.subarray(at - bufAt, nl + 1);
        if (outLength + line.length > outBuf.length) {
          writeSync(out, outBuf, 0, outLength);
          outLength = 0;
        }
        offsets[i] = size;
        if (line.length > outBuf.length) writeSync(out, line);
        else {
          line.copy(outBuf, outLength);
          outLength += line.length;
        }
        size += line.length;
      }
      if (outLength > 0) writeSync(out, outBuf, 0, outLength);
      if (this.fsync) fsyncSync(out);
    } finally {
      closeSync(out);
    }
    this.closeSegment(seg);
    renameSync(tmp, seg.file);
    this.bytes -= seg.size - size;
    seg.size = size;
    for (let row = from; row < to; row++) index.setOffset(row, GONE);
    keep.forEach((row, i) => {
      index.setOffset(row, offsets[i]!);
    });
    this.advanceHead();
  }

  /** The index rows [from, to) of a segment's ids. */
  private rowsOf(seg: Segment): [number, number] {
    const i = this.segments.indexOf(seg);
    const next = this.segments[i + 1];
    const from = this.index.firstRowAbove(seg.firstId - 1);
    const to = next ? this.index.firstRowAbove(next.firstId - 1) : this.index.size;
    return [from, to];
  }

  private segmentOf(id: number): Segment {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid]!.firstId <= id) lo = mid + 1;
      else hi = mid;
    }
    const seg = segs[lo - 1];
    if (!seg) throw new Error(`outbox: no segment holds record ${id}`);
    return seg;
  }

  private advanceHead(): void {
    const ackedBelow = this.index.advanceHead() ?? this.meta.nextId;
    const done = this.segments.filter((s) => s.live === 0 && s !== this.segments[this.segments.length - 1]);
    const moved = ackedBelow !== this.meta.ackedBelow;
    this.meta.ackedBelow = ackedBelow;
    if (done.length > 0) {
      // The pointer (and seq counters) must be on disk before the records vanish.
      this.saveMeta(this.fsync);
      for (const s of done) this.removeSegment(s);
    } else if (moved) this.saveMeta(false);
  }

  /** Reads a row's record: up to the next record's offset, cut at its newline. */
  private readRecord(seg: Segment, row: number): OutboxRecordOf {
    const index = this.index;
    const id = index.id(row);
    const offset = index.offset(row);
    let end = seg.size;
    const [, to] = this.rowsOf(seg);
    for (let r = row + 1; r < to; r++) {
      const o = index.offset(r);
      if (o !== GONE) {
        end = o;
        break;
      }
    }
    const length = end - offset;
    if (this.readBuf.length < length)
      this.readBuf = Buffer.allocUnsafe(Math.max(length, this.readBuf.length * 2));
    const n = readSync(this.fdOf(seg), this.readBuf, 0, length, offset);
    const nl = this.readBuf.subarray(0, n).indexOf(0x0a);
    const record = offset === GONE || nl < 0 ? null : decodeLine(this.readBuf.subarray(0, nl));
    if (!record || record.id !== id) throw new Error(`outbox: record ${id} unreadable in ${seg.file}`);
    return record as OutboxRecordOf;
  }

  private read(row: number): OutboxMessage {
    const id = this.index.id(row);
    const record = this.readRecord(this.segmentOf(id), row);
    return { id, kind: OUTBOX_KINDS[this.index.kind(row)], payload: record.payload };
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
    // Its rows (all acked or dropped) may sit behind a live head for a while: mark them as gone, or
    // the segment before, whose id range now extends over them, would take their offsets for its own.
    const [from, to] = this.rowsOf(seg);
    for (let row = from; row < to; row++) this.index.setOffset(row, GONE);
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

/**
 * Scans a segment file through one small buffer (a segment is up to 16 MiB, and reading it whole
 * at start-up left the agent's RSS at several of them until the next major GC).
 */
function scanSegmentFile(
  file: string,
  fn: (record: OutboxRecord, offset: number, length: number) => void,
): { goodLength: number; corrupt: number; size: number } {
  const fd = openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(SCAN_CHUNK);
    let filled = 0;
    let base = 0;
    let corrupt = 0;
    for (;;) {
      if (filled === buf.length) {
        // One line longer than the buffer: make room for it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const n = readSync(fd, buf, filled, buf.length - filled, base + filled);
      if (n === 0) break;
      filled += n;
      const at = base;
      const r = forEachRecord(buf.subarray(0, filled), (record, offset, length) =>
        fn(record, at + offset, length),
      );
      corrupt += r.corrupt;
      buf.copy(buf, 0, r.goodLength, filled);
      filled -= r.goodLength;
      base += r.goodLength;
    }
    return { goodLength: base, corrupt, size: base + filled };
  } finally {
    closeSync(fd);
  }
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
