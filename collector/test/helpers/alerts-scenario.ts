import { DatabaseSync } from 'node:sqlite';
import { classifySignal } from '@dayi/protocols';
import { addDays, dateOf, startOfDate } from '../../src/derive/pure/calendar.ts';
import { getJson, MANAGER_KEY } from './e2e-collector.ts';
import type { Message } from './e2e-mqtt.ts';

/**
 * Two days of a lab instrument, ten days ago (so that the data stays recent whenever the test
 * runs), with one of most anomaly types, as an agent would publish them: telemetry with state every
 * minute, plus events. Its `anomaly` settings make the bands configured (nothing to learn).
 */

export const ALERT_INSTRUMENT = 'ZJ-XRD-0007';
export const TZ = 'Asia/Shanghai';
const MINUTE = 60_000;
const HOUR = 3_600_000;
export const THRESHOLDS = { signal: 'power_w', standby: 20, idle: 100, running: 300 };

export const SCENARIO_ANOMALY = {
  powerBand: { running: [400, 800] as [number, number] },
  serviceHours: 'Mon-Sun 08:00-18:00',
  staleSamples: 30,
  shortCycle: { maxChangesPerHour: 6 },
  longRunHours: 5,
};

export function scenarioDays(now = Date.now()): [string, string] {
  const first = addDays(dateOf(now, TZ), -10);
  return [first, addDays(first, 1)];
}

export function localAt(date: string, hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return startOfDate(date, TZ) + h * HOUR + m * MINUTE;
}

function wiggle(i: number): number {
  let x = (i * 2_654_435_761) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 2_246_822_519) >>> 0;
  return ((x >>> 0) / 0xffff_ffff) * 2 - 1;
}

/** The scenario's messages in publishing order (by ts), on the instrument's topics. */
export function scenarioMessages(now = Date.now(), id = ALERT_INSTRUMENT): Message[] {
  const [d1, d2] = scenarioDays(now);
  const at = localAt;
  const out: Message[] = [];
  const telemetry = `dayi/v1/${id}/telemetry`;
  const events = `dayi/v1/${id}/event`;
  let seq = 0;
  let eventSeq = 0;
  const end = startOfDate(addDays(d2, 1), TZ);
  for (let ts = startOfDate(d1, TZ); ts < end; ts += MINUTE) {
    const local = new Date(ts + 8 * HOUR);
    const min = local.getUTCHours() * 60 + local.getUTCMinutes();
    let watts = min >= 9 * 60 && min < 17 * 60 ? 600 : 0;
    let state: string | undefined;
    const within = (d: string, a: string, b: string) => ts >= at(d, a) && ts < at(d, b);
    if (within(d1, '20:00', '20:30')) watts = 600; // out of hours
    if (within(d1, '14:00', '14:10')) watts = 1200; // out of band
    if (within(d1, '15:00', '15:05')) state = 'fault';
    if (within(d2, '09:00', '10:00'))
      watts = Math.floor((ts - at(d2, '09:00')) / (4 * MINUTE)) % 2 === 0 ? 150 : 600;
    let value = watts === 0 ? 0 : Math.round(watts * (1 + 0.03 * wiggle(seq)) * 10) / 10;
    if (within(d2, '13:00', '14:00')) value = 612.5; // frozen meter
    if (ts === at(d2, '11:00')) value = -4; // impossible
    out.push({
      topic: telemetry,
      payload: JSON.stringify({
        ts,
        seq: seq++,
        metrics: { power_w: value },
        state: state ?? classifySignal(value, THRESHOLDS),
      }),
    });
    if (ts === at(d1, '15:00')) {
      out.push({
        topic: events,
        payload: JSON.stringify({
          ts,
          seq: eventSeq++,
          type: 'vendor_fault',
          severity: 'critical',
          detail: { code: 'E17', text: 'X-ray tube interlock' },
        }),
      });
    }
    if (ts === at(d2, '10:00')) {
      out.push({
        topic: events,
        payload: JSON.stringify({
          ts,
          seq: eventSeq++,
          type: 'data_gap',
          severity: 'warning',
          detail: {
            reason: 'outbox full',
            dropped: { telemetry: 40 },
            from: at(d2, '08:00'),
            to: at(d2, '08:40'),
          },
        }),
      });
    }
  }
  return out;
}

export interface AlertJson {
  id: string;
  instrumentId: string;
  kind: string;
  type: string;
  status: string;
  openedAt: string;
  closedAt: string | null;
  count: number;
  detail: Record<string, unknown>;
  acknowledged: { by: string | null; note: string | null } | null;
  resolved: { by: string | null; note: string | null } | null;
}

/** Every alert, through the pages of GET /v1/alerts. */
export async function allAlerts(baseUrl: string, query = ''): Promise<AlertJson[]> {
  const out: AlertJson[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: AlertJson[]; next: string | null } = await getJson(
      baseUrl,
      `/v1/alerts?limit=50${query}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

export async function postJson(baseUrl: string, path: string, body: unknown, key = MANAGER_KEY) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as AlertJson;
}

/** The detection pass's backlog as /metrics shows it. */
export async function detectBacklog(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const m = /^dayi_detect_backlog_messages (\d+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Everything the alerts and the detectors keep, read from the store file (a second connection). */
export function alertTables(dbPath: string) {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const q = (sql: string) => db.prepare(sql).all();
    return {
      alerts: q('SELECT * FROM alerts ORDER BY id'),
      events: q('SELECT * FROM alert_events ORDER BY id'),
      episodes: q('SELECT * FROM alert_episodes ORDER BY instrument_id, type, start, sticky'),
      detectorState: q('SELECT * FROM detect_state ORDER BY instrument_id'),
      detectorDays: q('SELECT * FROM detect_days ORDER BY instrument_id, date'),
    };
  } finally {
    db.close();
  }
}

/**
 * Whether every message is folded and saved: the pass's saved position is the ledger's last message,
 * and nothing waits in a reorder buffer or for a replay to settle.
 */
export function detectorsIdle(dbPath: string): boolean {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const last = db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM messages').get() as { id: number };
    const cursor = db.prepare("SELECT value FROM detect_meta WHERE key = 'cursor'").get() as
      | { value: string }
      | undefined;
    if (Number(cursor?.value ?? 0) !== last.id) return false;
    const rows = db.prepare('SELECT state FROM detect_state').all() as { state: string }[];
    return rows.every((r) => {
      const s = JSON.parse(r.state) as { pending: unknown[]; late: unknown };
      return s.pending.length === 0 && s.late === null;
    });
  } finally {
    db.close();
  }
}
