/**
 * The outbox's in-memory index: where each message from the oldest unsent one to the newest lies
 * in its segment file. Pure: no I/O.
 *
 * Ids are dense (every append takes the next one), so a row needs no id: row r is id `firstId + r`.
 * A row is a file offset (4 bytes) and a kind and status (1 byte): 5 bytes a message instead of
 * about 100 bytes of heap for an object per message, so a full default outbox (256 MiB, 1.7 million
 * one-metric records) costs about 8 MB. Rows live in fixed chunks of 64 Ki, so growing never copies
 * (or briefly doubles) the index, and rows leaving at the head give their chunk back.
 *
 * Acked and dropped rows stay until the head passes them: behind a message that waits at the head
 * (a state change through a long outage, while telemetry behind it is dropped), they cost 5 bytes
 * each until it is sent.
 */

export const LIVE = 0;
export const ACKED = 1;
export const DROPPED = 2;
export type EntryStatus = typeof LIVE | typeof ACKED | typeof DROPPED;

/** Index of a kind in OUTBOX_KINDS. */
export type KindCode = 0 | 1 | 2;

/** The offset of a row whose record is no longer in its file (dropped or acked, then compacted away). */
export const GONE = 0xffff_ffff;

const SHIFT = 16;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

interface Chunk {
  offsets: Uint32Array;
  /** kind in bits 0-1, status in bits 2-3. */
  flags: Uint8Array;
}

export class OutboxIndex {
  private chunks: Chunk[] = [];
  /** Position of row 0 in chunks[0]. */
  private first = 0;
  private count = 0;
  /** Id of row 0. */
  private base = 0;
  /** Live rows. */
  live = 0;

  get size(): number {
    return this.count;
  }

  /** Id of row 0 (meaningless while empty). */
  get firstId(): number {
    return this.base;
  }

  id(row: number): number {
    return this.base + row;
  }
  offset(row: number): number {
    const p = this.first + row;
    return this.chunks[p >>> SHIFT]!.offsets[p & MASK]!;
  }
  kind(row: number): KindCode {
    const p = this.first + row;
    return (this.chunks[p >>> SHIFT]!.flags[p & MASK]! & 3) as KindCode;
  }
  status(row: number): EntryStatus {
    const p = this.first + row;
    return ((this.chunks[p >>> SHIFT]!.flags[p & MASK]! >> 2) & 3) as EntryStatus;
  }

  setOffset(row: number, offset: number): void {
    const p = this.first + row;
    this.chunks[p >>> SHIFT]!.offsets[p & MASK] = offset;
  }

  setStatus(row: number, status: EntryStatus): void {
    const p = this.first + row;
    const flags = this.chunks[p >>> SHIFT]!.flags;
    const was = (flags[p & MASK]! >> 2) & 3;
    if (was === status) return;
    if (was === LIVE) this.live--;
    if (status === LIVE) this.live++;
    flags[p & MASK] = (flags[p & MASK]! & 3) | (status << 2);
  }

  /**
   * Appends a live row for `id`, which must be above every id indexed. Ids skipped (records acked
   * or dropped before a restart) become gone rows.
   */
  push(id: number, kind: KindCode, offset: number): void {
    if (this.count === 0) this.base = id;
    const next = this.base + this.count;
    if (id < next) throw new Error(`outbox index: id ${id} does not follow ${next - 1}`);
    for (let hole = next; hole < id; hole++) this.add(0, ACKED, GONE);
    this.add(kind, LIVE, offset);
    this.live++;
  }

  /** The row holding `id`, or -1. */
  find(id: number): number {
    const row = id - this.base;
    return row >= 0 && row < this.count ? row : -1;
  }

  /** The first row whose id is above `afterId` (size if none). */
  firstRowAbove(afterId: number): number {
    return Math.min(this.count, Math.max(0, afterId + 1 - this.base));
  }

  /** Drops dead rows at the head; returns the id of the first live row, or null if none is left. */
  advanceHead(): number | null {
    while (this.count > 0 && this.status(0) !== LIVE) {
      this.first++;
      this.base++;
      this.count--;
      if (this.first === CHUNK) {
        this.chunks.shift();
        this.first = 0;
      }
    }
    if (this.count > 0) return this.base;
    this.chunks.length = Math.min(this.chunks.length, 1);
    this.first = 0;
    return null;
  }

  /** Bytes the arrays hold (every chunk, used or not): for tests and the docs' figures. */
  get heapBytes(): number {
    return this.chunks.length * CHUNK * 5;
  }

  private add(kind: KindCode, status: EntryStatus, offset: number): void {
    const p = this.first + this.count;
    const c = p >>> SHIFT;
    if (c === this.chunks.length)
      this.chunks.push({ offsets: new Uint32Array(CHUNK), flags: new Uint8Array(CHUNK) });
    const chunk = this.chunks[c]!;
    chunk.offsets[p & MASK] = offset;
    chunk.flags[p & MASK] = kind | (status << 2);
    this.count++;
  }
}
