import { crc32 } from './crc32.ts';

/**
 * One outbox record per line: `<crc32 of json, 8 hex> <json>\n`. JSON never contains a raw newline,
 * so a line is a record; the CRC and the trailing newline reveal a torn write (power loss mid-append).
 */
export interface OutboxRecord {
  id: number;
  kind: string;
  payload: Record<string, unknown>;
}

export function encodeRecord(record: OutboxRecord): Buffer {
  const json = JSON.stringify(record);
  const crc = crc32(json).toString(16).padStart(8, '0');
  return Buffer.from(`${crc} ${json}\n`, 'utf8');
}

export interface ScannedRecord {
  record: OutboxRecord;
  offset: number;
  length: number;
}

export interface ScanResult {
  records: ScannedRecord[];
  /** Bytes up to the end of the last complete line: the file is truncated here to drop a torn tail. */
  goodLength: number;
  /** Complete lines whose CRC or JSON did not check out (skipped). */
  corrupt: number;
}

/** Reads every intact record of a segment file's bytes. */
export function scanRecords(buf: Buffer): ScanResult {
  const records: ScannedRecord[] = [];
  const { goodLength, corrupt } = forEachRecord(buf, (record, offset, length) => {
    records.push({ record, offset, length });
  });
  return { records, goodLength, corrupt };
}

/** Like scanRecords, without holding every record at once (a full segment is tens of thousands). */
export function forEachRecord(
  buf: Buffer,
  fn: (record: OutboxRecord, offset: number, length: number) => void,
): Omit<ScanResult, 'records'> {
  let corrupt = 0;
  let offset = 0;
  while (offset < buf.length) {
    const nl = buf.indexOf(0x0a, offset);
    if (nl < 0) break; // torn tail: no newline
    const record = decodeLine(buf.subarray(offset, nl));
    if (record) fn(record, offset, nl + 1 - offset);
    else corrupt++;
    offset = nl + 1;
  }
  return { goodLength: offset, corrupt };
}

export function decodeLine(line: Buffer): OutboxRecord | null {
  if (line.length < 10 || line[8] !== 0x20) return null;
  const crc = line.subarray(0, 8).toString('latin1');
  const json = line.subarray(9);
  if (crc32(json).toString(16).padStart(8, '0') !== crc) return null;
  try {
    const r = JSON.parse(json.toString('utf8')) as OutboxRecord;
    if (typeof r.id !== 'number' || typeof r.kind !== 'string' || typeof r.payload !== 'object') return null;
    return r;
  } catch {
    return null;
  }
}
