/**
 * The running agent's account of each instrument, for `dayi agent status` (another process): one
 * JSON file per instrument, `<outbox.dir>/<instrument id>/status.json`, rewritten when the MQTT
 * link or the collector's refusals change and at least every `publishEvery`. The agent has no
 * HTTP server (its memory budget, docs/performance.md), so this file is its metrics: refusals by
 * class, messages kept and dropped, the outbox backlog, the link.
 *
 * Run-time code: no zod, no YAML.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OutboxStats } from './outbox.ts';
import type { SessionState } from './publisher/session.ts';

export const STATUS_FILE = 'status.json';

export interface InstrumentStatusFile {
  version: 1;
  pid: number;
  agentId: string;
  instrumentId: string;
  /** When the file was written, ms since the epoch. */
  updatedAt: number;
  /** The file is rewritten at least this often while the agent runs (its publishEvery). */
  every: number;
  /** The broker, without any user or password the URL may carry. */
  broker: string;
  /** True once the agent stopped (it writes the file a last time). */
  stopped: boolean;
  session: SessionState;
  outbox: OutboxStats;
}

export function statusFilePath(outboxDir: string): string {
  return join(outboxDir, STATUS_FILE);
}

/** Written whole and renamed into place: a reader never sees half a file. */
export function writeStatusFile(outboxDir: string, status: InstrumentStatusFile): void {
  const file = statusFilePath(outboxDir);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(status));
  renameSync(tmp, file);
}

/** The file, or null when there is none or it cannot be read (the agent never ran here). */
export function readStatusFile(outboxDir: string): InstrumentStatusFile | null {
  try {
    const v = JSON.parse(readFileSync(statusFilePath(outboxDir), 'utf8')) as InstrumentStatusFile;
    return v && v.version === 1 ? v : null;
  } catch {
    return null;
  }
}

/** `mqtt://host:1883`: the URL without credentials, for files and screens. */
export function brokerOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}
