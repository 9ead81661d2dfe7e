/**
 * The detection pass (alerts/runner.ts) over the real ingest and store: a lab week with one of
 * each event-time anomaly, sent through ingest in order and as a shuffled replay in batches. The
 * alerts' episodes must be exactly what the pure detectors find over the whole week at once
 * (detect/ `detectAll`), and the detector state must come out the same whatever the order.
 */
import type { TopicKind, TopicPayloads } from '@dayi/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlerts } from '../src/alerts/index.ts';
import { type DetectMessage, detectAll, episodes } from '../src/detect/index.ts';
import { type DeriveDb, openDeriveDb } from './helpers/derive-db.ts';
import {
  event,
  LEVEL,
  MINUTE,
  messagesOf,
  noisy,
  type Reading,
  readings,
  settingsOf,
  t,
  WEEK_END,
} from './helpers/detect-week.ts';
import { shuffled } from './helpers/e2e-mqtt.ts';

const ID = 'ZJ-NMR-0001';
const TUE = '2026-11-17';
const WED = '2026-11-18';
const THU = '2026-11-19';
const FRI = '2026-11-20';

function scenario(): DetectMessage[] {
  const rs = readings((ts, r): Reading => {
    if (ts >= t(TUE, '20:00') && ts < t(TUE, '22:00')) return { ...r, watts: noisy(LEVEL.running, ts) };
    if (ts >= t(WED, '10:00') && ts < t(WED, '11:00')) return { ...r, watts: 1503.2 };
    if (ts >= t(WED, '14:00') && ts < t(WED, '14:20')) return { ...r, watts: noisy(2200, ts) };
    if (ts >= t(WED, '15:00') && ts < t(WED, '15:10')) return { ...r, state: 'fault' };
    if (ts >= t(THU, '10:00') && ts < t(THU, '11:00')) {
      const block = Math.floor((ts - t(THU, '10:00')) / (4 * MINUTE));
      return { ...r, watts: noisy(block % 2 === 0 ? LEVEL.idle : LEVEL.running, ts) };
    }
    if (ts === t(FRI, '10:30')) return { ...r, watts: -5 };
    return r;
  });
  return messagesOf(rs, [
    event(t(WED, '15:00'), 'vendor_fault'),
    event(t(THU, '12:00'), 'data_gap', { reason: 'outbox full', dropped: { telemetry: 3 } }),
  ]);
}

interface Run {
  db: DeriveDb;
  alerts: ReturnType<typeof createAlerts>;
}

const open: Run[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) {
    r.alerts.close();
    await r.db.close();
  }
});

function start(now: number): Run {
  const db = openDeriveDb(
    {
      timezone: 'Asia/Shanghai',
      offlineAfter: '5m',
      alerts: { anomaly: { serviceHours: 'Mon-Fri 08:00-18:00' } },
    },
    now,
  );
  const alerts = createAlerts(db.ctx, db.ingest);
  const r = { db, alerts };
  open.push(r);
  return r;
}

/** Sends messages through ingest in `batch`-sized group commits, one detection pass after each. */
async function feed(
  r: Run,
  messages: readonly DetectMessage[],
  batch: number,
  receivedAt: (i: number) => number,
) {
  for (let i = 0; i < messages.length; i += batch) {
    const chunk = messages.slice(i, i + batch);
    r.db.clock.now = receivedAt(i + chunk.length - 1);
    await r.db.sendAll(
      chunk.map((m, j) => ({
        id: ID,
        kind: m.kind as TopicKind,
        payload: m.payload as TopicPayloads[TopicKind],
        receivedAt: receivedAt(i + j),
      })) as Parameters<DeriveDb['sendAll']>[0],
    );
    r.alerts.runner.pass();
  }
}

function storedEpisodes(r: Run) {
  return (
    r.db.ctx.db
      .prepare('SELECT type, start, "end", sticky FROM alert_episodes ORDER BY start, type, sticky')
      .all() as { type: string; start: number; end: number | null; sticky: number }[]
  ).map((e) => [e.type, e.start, e.end, e.sticky === 1]);
}

function expectedEpisodes(messages: DetectMessage[]) {
  const last = Math.max(...messages.map((m) => m.receivedAt));
  return episodes(detectAll({ settings: settingsOf(), messages, now: last + MINUTE }))
    .filter((f) => f.type !== 'offline')
    .map((f) => [f.type, f.start, f.end, f.sticky])
    .sort(
      (a, b) =>
        (a[1] as number) - (b[1] as number) ||
        String(a[0]).localeCompare(String(b[0])) ||
        Number(a[3]) - Number(b[3]),
    );
}

/** The event-time detectors' state; ledger ids differ between two arrival orders, so the watermark is its ts. */
function foldState(r: Run) {
  const row = r.db.ctx.db.prepare('SELECT state FROM detect_state WHERE instrument_id = ?').get(ID) as {
    state: string;
  };
  const { fold } = JSON.parse(row.state) as { fold: { watermark: { ts: number } } };
  return { ...fold, watermark: fold.watermark.ts };
}

describe('the detection pass over ingest', () => {
  const messages = scenario();
  const expected = expectedEpisodes(messages);

  it('the scenario has one of each event-time anomaly (the reference the pass must match)', () => {
    expect(expected.map((e) => e[0])).toEqual([
      'out_of_hours',
      'sensor_stuck',
      'power_out_of_band',
      'vendor_fault',
      'vendor_fault',
      'short_cycling',
      'data_gap',
      'sensor_stuck',
    ]);
  });

  it('in order, live (arriving 200 ms after their ts), in batches: the same episodes, one alert per type', async () => {
    const r = start(messages[0]!.receivedAt);
    await feed(r, messages, 500, (i) => messages[i]!.receivedAt);
    r.db.clock.now = messages[messages.length - 1]!.receivedAt + MINUTE;
    r.alerts.runner.drain();
    expect(storedEpisodes(r).sort()).toEqual([...expected].sort());
    const alerts = r.db.ctx.db.prepare('SELECT type, count, status FROM alerts ORDER BY type').all() as {
      type: string;
      count: number;
    }[];
    expect(alerts.map((a) => [a.type, a.count])).toEqual([
      ['data_gap', 1],
      ['out_of_hours', 1],
      ['power_out_of_band', 1],
      // the frozen reading on Wednesday resolved; Friday's impossible one opened another
      ['sensor_stuck', 1],
      ['sensor_stuck', 1],
      ['short_cycling', 1],
      ['vendor_fault', 1],
    ]);
  });

  it('replayed shuffled, in batches of 700, hours later: the same episodes and the same detector state', async () => {
    const inOrder = start(messages[0]!.receivedAt);
    await feed(inOrder, messages, 500, (i) => messages[i]!.receivedAt);
    inOrder.db.clock.now = messages[messages.length - 1]!.receivedAt + MINUTE;
    inOrder.alerts.runner.drain();

    const replayAt = t(WEEK_END, '09:00');
    const replay = start(replayAt);
    const mixed = shuffled(messages, 11);
    await feed(replay, mixed, 700, (i) => replayAt + i * 10);
    replay.db.clock.now = replayAt + mixed.length * 10 + MINUTE;
    replay.alerts.runner.drain();

    expect(storedEpisodes(replay).sort()).toEqual([...expected].sort());
    expect(foldState(replay)).toEqual(foldState(inOrder));
    const opened = (r: Run) =>
      r.db.ctx.db.prepare('SELECT type, opened_at, count FROM alerts ORDER BY type, opened_at').all();
    expect(opened(replay)).toEqual(opened(inOrder));
  });
});
