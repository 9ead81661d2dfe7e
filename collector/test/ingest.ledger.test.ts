import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CollectorContext } from '../src/context.ts';
import { createIngest, type IncomingMessage, type Ingest } from '../src/ingest/index.ts';
import { makeContext, T0, tempDir } from './helpers/mqtt-harness.ts';

const MIN = 60_000;

function msg(topic: string, payload: unknown, extra: Partial<IncomingMessage> = {}): IncomingMessage {
  return {
    topic,
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
    clientId: 'c1',
    username: 'agent-a',
    allowedInstruments: new Set(['NMR-1', 'NMR-2']),
    receivedAt: T0 + 10 * MIN,
    ...extra,
  };
}

const state = (seq: number, ts: number, s = 'running') => ({ ts, seq, state: s, since: ts });

describe('ingest: the ledger transaction', () => {
  let tmp: ReturnType<typeof tempDir>;
  let ctx: CollectorContext;
  let ingest: Ingest;
  const all = (sql: string, ...p: (string | number)[]) => ctx.db.prepare(sql).all(...p);
  const one = (sql: string, ...p: (string | number)[]) => ctx.db.prepare(sql).get(...p);

  beforeEach(() => {
    tmp = tempDir();
    // messages here arrive at T0 + 10 min with event times up to a day later: no clock skew check
    ctx = makeContext(`${tmp.dir}/dayi.sqlite`, {
      mqtt: { host: '127.0.0.1', port: 0, maxClockSkew: '3d' },
    });
    ingest = createIngest(ctx);
  });
  afterEach(async () => {
    await ingest.close();
    ctx.db.close();
    tmp.remove();
  });

  it('accepts a state: ledger row, observation, latest facts, dirty days, registry entry', async () => {
    const out = await ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0)));
    expect(out).toEqual({ outcome: 'accepted', latest: true });
    expect(all('SELECT instrument_id, kind, seq, ts, client_id FROM messages')).toEqual([
      { instrument_id: 'NMR-1', kind: 'state', seq: 1, ts: T0, client_id: 'c1' },
    ]);
    expect(all('SELECT instrument_id, ts, state FROM observations')).toEqual([
      { instrument_id: 'NMR-1', ts: T0, state: 'running' },
    ]);
    expect(
      one(
        'SELECT first_seen, last_seen, last_received_at, last_powered_at, last_running_at, state_ts FROM instrument_status',
      ),
    ).toEqual({
      first_seen: T0,
      last_seen: T0,
      last_received_at: T0 + 10 * MIN,
      last_powered_at: T0,
      last_running_at: T0,
      state_ts: T0,
    });
    expect(all('SELECT date FROM dirty_days')).toEqual([{ date: '2026-11-20' }]);
    expect(one('SELECT id, quota_hours FROM instruments')).toEqual({ id: 'NMR-1', quota_hours: 1400 });
  });

  it('drops duplicates by (instrument, kind, seq, ts), also inside one batch, changing nothing else', async () => {
    const a = msg('dayi/v1/NMR-1/state', state(7, T0));
    const again = msg('dayi/v1/NMR-1/state', { ...state(7, T0), source: 'replayed' });
    const outcomes = await Promise.all([ingest.submit(a), ingest.submit(again)]);
    expect(outcomes.map((o) => o.outcome)).toEqual(['accepted', 'duplicate']);
    expect(outcomes[1]!.reason).toMatch(/seq 7 of NMR-1 with ts \d+ is already in the ledger/);
    expect((await ingest.submit(a)).outcome).toBe('duplicate');
    expect(one('SELECT COUNT(*) AS n FROM messages')).toEqual({ n: 1 });
    expect(one('SELECT COUNT(*) AS n FROM observations')).toEqual({ n: 1 });
    expect(one('SELECT last_seen FROM instrument_status')).toEqual({ last_seen: T0 });
    // the same seq on another kind or instrument is a different message
    expect(
      (await ingest.submit(msg('dayi/v1/NMR-1/telemetry', { ts: T0, seq: 7, metrics: {} }))).outcome,
    ).toBe('accepted');
    expect((await ingest.submit(msg('dayi/v1/NMR-2/state', state(7, T0)))).outcome).toBe('accepted');
    const text = await ctx.metrics.registry.metrics();
    expect(text).toContain('dayi_mqtt_messages_total{kind="state",outcome="duplicate"} 2');
    expect(text).toContain('dayi_mqtt_messages_total{kind="state",outcome="accepted"} 2');
  });

  it('commits concurrent submissions as one group', async () => {
    const outs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ingest.submit(msg('dayi/v1/NMR-1/state', state(i, T0 + i * 1000))),
      ),
    );
    expect(outs.every((o) => o.outcome === 'accepted')).toBe(true);
    const text = await ctx.metrics.registry.metrics();
    expect(text).toContain('dayi_ingest_commit_batch_size_count 1');
    expect(text).toContain('dayi_ingest_commit_batch_size_sum 50');
  });

  it('classifies telemetry without state with the registry thresholds, re-read when they change', async () => {
    const now = Date.now();
    ctx.db
      .prepare('INSERT INTO instruments (id, thresholds, created_at, updated_at) VALUES (?, ?, ?, ?)')
      .run('NMR-2', JSON.stringify({ signal: 'power_w', standby: 5, idle: 80, running: 400 }), now, now);
    const tele = (seq: number, ts: number, w: number) => ({ ts, seq, metrics: { power_w: w, current_a: 1 } });
    await ingest.submit(msg('dayi/v1/NMR-2/telemetry', tele(1, T0, 512)));
    await ingest.submit(msg('dayi/v1/NMR-2/telemetry', tele(2, T0 + MIN, 40)));
    // no thresholds in the registry: telemetry without state is no state evidence
    await ingest.submit(msg('dayi/v1/NMR-1/telemetry', tele(1, T0, 512)));
    ctx.db
      .prepare('UPDATE instruments SET thresholds = ? WHERE id = ?')
      .run(JSON.stringify({ signal: 'power_w', standby: 5, idle: 10, running: 30 }), 'NMR-2');
    ingest.invalidate('NMR-2');
    await ingest.submit(msg('dayi/v1/NMR-2/telemetry', tele(3, T0 + 2 * MIN, 40)));
    expect(all('SELECT instrument_id, ts, state FROM observations ORDER BY instrument_id, ts')).toEqual([
      { instrument_id: 'NMR-2', ts: T0, state: 'running' },
      { instrument_id: 'NMR-2', ts: T0 + MIN, state: 'standby' },
      { instrument_id: 'NMR-2', ts: T0 + 2 * MIN, state: 'running' },
    ]);
    expect(
      one("SELECT last_seen, last_powered_at FROM instrument_status WHERE instrument_id = 'NMR-1'"),
    ).toEqual({
      last_seen: T0,
      last_powered_at: null,
    });
  });

  it('keeps min/max facts right when messages arrive out of order', async () => {
    await ingest.submit(msg('dayi/v1/NMR-1/state', state(3, T0 + 60 * MIN, 'off')));
    await ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0, 'running')));
    await ingest.submit(msg('dayi/v1/NMR-1/state', state(2, T0 + 30 * MIN, 'idle'), { receivedAt: T0 }));
    expect(
      one(
        'SELECT first_seen, last_seen, last_received_at, last_powered_at, last_running_at, state_ts FROM instrument_status',
      ),
    ).toEqual({
      first_seen: T0,
      last_seen: T0 + 60 * MIN,
      last_received_at: T0 + 10 * MIN,
      last_powered_at: T0 + 30 * MIN,
      last_running_at: T0,
      state_ts: T0 + 60 * MIN,
    });
  });

  it('reports whether a state is the latest, so an old replayed one is not retained', async () => {
    expect(await ingest.submit(msg('dayi/v1/NMR-1/state', state(2, T0 + MIN)))).toMatchObject({
      latest: true,
    });
    expect(await ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0)))).toMatchObject({ latest: false });
    const row = one('SELECT m.seq FROM instrument_status s JOIN messages m ON m.id = s.state_message_id') as {
      seq: number;
    };
    expect(row.seq).toBe(2);
  });

  it('orders status by arrival: a will with its stale CONNECT ts still marks the agent offline', async () => {
    const agent = { id: 'lab3-pc7', version: '1.0.0' };
    const inputs = [{ name: 'meter', type: 'modbus', connected: true }];
    await ingest.submit(
      msg('dayi/v1/NMR-1/status', { ts: T0, online: true, agent, inputs }, { receivedAt: T0 + 1000 }),
    );
    await ingest.submit(
      msg('dayi/v1/NMR-1/status', { ts: T0 + 20 * MIN, online: true, agent }, { receivedAt: T0 + 20 * MIN }),
    );
    const will = await ingest.submit(
      msg('dayi/v1/NMR-1/status', { ts: T0, online: false, agent }, { receivedAt: T0 + 30 * MIN }),
    );
    expect(will).toEqual({ outcome: 'accepted', latest: true });
    expect(
      one(
        'SELECT online, status_ts, status_received_at, agent_id, agent_version, inputs FROM instrument_status',
      ),
    ).toEqual({
      online: 0,
      status_ts: T0,
      status_received_at: T0 + 30 * MIN,
      agent_id: 'lab3-pc7',
      agent_version: '1.0.0',
      inputs: JSON.stringify(inputs),
    });
    // a status that arrives earlier than the one applied (clock order) does not win
    const old = await ingest.submit(
      msg('dayi/v1/NMR-1/status', { ts: T0 + 40 * MIN, online: true }, { receivedAt: T0 + 25 * MIN }),
    );
    expect(old.latest).toBe(false);
    expect(one('SELECT online FROM instrument_status')).toEqual({ online: 0 });
    // status is no state evidence
    expect(one('SELECT COUNT(*) AS n FROM observations')).toEqual({ n: 0 });
  });

  it('marks dirty every day from ts to ts + offlineAfter, in the collector time zone', async () => {
    // 23:58 in Shanghai on 2026-11-20: the evidence may hold until 00:03 the next day
    const lateEvening = Date.parse('2026-11-20T15:58:00Z');
    await ingest.submit(msg('dayi/v1/NMR-1/state', state(1, lateEvening)));
    await ingest.submit(msg('dayi/v1/NMR-1/event', { ts: T0, seq: 1, type: 'door_open', severity: 'info' }));
    expect(all('SELECT instrument_id, date FROM dirty_days ORDER BY date')).toEqual([
      { instrument_id: 'NMR-1', date: '2026-11-20' },
      { instrument_id: 'NMR-1', date: '2026-11-21' },
    ]);
  });

  it('keeps rejected and unauthorized messages with their reason, never in the ledger', async () => {
    const cases: [IncomingMessage, string, RegExp][] = [
      [msg('dayi/v1/NMR-1/state', 'not json{'), 'rejected', /not JSON/],
      [msg('dayi/v1/NMR-1/state', { ts: T0, seq: 1, state: 'exploded', since: T0 }), 'rejected', /^state:/],
      [
        msg('dayi/v1/NMR-1/telemetry', '{"ts":1764380000000,"seq":1,"metrics":{"power_w":1e999}}'),
        'rejected',
        /metrics\.power_w/,
      ],
      [msg('dayi/v1/NMR-1/telemetry', { ts: '1764380000000', seq: 1, metrics: {} }), 'rejected', /^ts:/],
      [msg('dayi/v1/NMR-1/health', { ts: T0 }), 'rejected', /^topic:/],
      [msg('dayi/v1/XRD-1/state', state(1, T0)), 'unauthorized', /not registered for instrument XRD-1/],
      [msg('dayi/v1/NMR-1/telemetry', 'x'.repeat(70 * 1024)), 'rejected', /payload too large/],
    ];
    for (const [m, outcome, reason] of cases) {
      const out = await ingest.submit(m);
      expect(out.outcome, m.topic).toBe(outcome);
      expect(out.reason, m.topic).toMatch(reason);
    }
    expect(one('SELECT COUNT(*) AS n FROM messages')).toEqual({ n: 0 });
    expect(one('SELECT COUNT(*) AS n FROM instrument_status')).toEqual({ n: 0 });
    expect(one('SELECT COUNT(*) AS n FROM instruments')).toEqual({ n: 0 });
    const rows = all(
      'SELECT topic, reason, username, client_id, length(payload) AS bytes FROM rejected ORDER BY id',
    ) as {
      topic: string;
      reason: string;
      username: string;
      bytes: number;
    }[];
    expect(rows).toHaveLength(cases.length);
    expect(rows[0]).toMatchObject({
      topic: 'dayi/v1/NMR-1/state',
      username: 'agent-a',
      client_id: 'c1',
      bytes: 9,
    });
    // bounded excerpts: 256 bytes of a 70 KiB payload, with its size
    expect(rows.at(-1)!.bytes).toBe(256);
    const text = await ctx.metrics.registry.metrics();
    expect(text).toContain('dayi_mqtt_rejected_total{reason="invalid_payload"} 4');
    expect(text).toContain('dayi_mqtt_rejected_total{reason="invalid_topic"} 1');
    expect(text).toContain('dayi_mqtt_rejected_total{reason="not_authorized"} 1');
    expect(text).toContain('dayi_mqtt_rejected_total{reason="too_large"} 1');
    expect(text).toContain('dayi_mqtt_messages_total{kind="unknown",outcome="rejected"} 1');
  });

  it('deletes rejected rows older than store.rejected.maxAge at start', async () => {
    const day = 86_400_000;
    const now = Date.now();
    await ingest.submit(msg('dayi/v1/NMR-1/state', 'old', { receivedAt: now - 40 * day }));
    await ingest.submit(msg('dayi/v1/NMR-1/state', 'recent', { receivedAt: now - day }));
    expect(one('SELECT COUNT(*) AS n FROM rejected')).toEqual({ n: 2 });
    await ingest.close();
    ingest = createIngest(ctx); // a restart: pruned at once, then hourly
    expect(all('SELECT payload_bytes FROM rejected')).toEqual([{ payload_bytes: 6 }]);
  });

  it('tells listeners about accepted messages after commit, and stops when unsubscribed', async () => {
    const seen: string[] = [];
    const off = ingest.onCommitted((batch) => {
      for (const m of batch) {
        // the row is committed when the listener runs
        const row = ctx.db.prepare('SELECT kind FROM messages WHERE id = ?').get(m.messageId);
        seen.push(`${m.instrumentId}/${m.kind}/${m.state}/${m.ts}/${row ? 'stored' : 'missing'}`);
      }
    });
    await Promise.all([
      ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0))),
      ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0))),
      ingest.submit(msg('dayi/v1/NMR-1/state', 'bad')),
    ]);
    off();
    await ingest.submit(msg('dayi/v1/NMR-1/state', state(2, T0)));
    expect(seen).toEqual([`NMR-1/state/running/${T0}/stored`]);
  });

  it('rejects the promise when the store fails, and fails only the message that broke', async () => {
    ctx.db.exec(`CREATE TRIGGER fail_nmr2 BEFORE INSERT ON messages WHEN NEW.instrument_id = 'NMR-2'
      BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END`);
    const [good, bad] = await Promise.allSettled([
      ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0))),
      ingest.submit(msg('dayi/v1/NMR-2/state', state(1, T0))),
    ]);
    expect(good).toEqual({ status: 'fulfilled', value: { outcome: 'accepted', latest: true } });
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/simulated I\/O error/);
    // nothing of the failed message remains: no registry entry, no status row
    expect(all('SELECT instrument_id FROM instrument_status')).toEqual([{ instrument_id: 'NMR-1' }]);
    expect(all('SELECT id FROM instruments')).toEqual([{ id: 'NMR-1' }]);
    ctx.db.exec('DROP TRIGGER fail_nmr2');
    expect((await ingest.submit(msg('dayi/v1/NMR-2/state', state(1, T0)))).outcome).toBe('accepted');
  });

  it('refuses the whole batch at once when the store itself fails (read-only)', async () => {
    const lines: string[] = [];
    ctx.log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const failing = createIngest(ctx);
    ctx.db.exec('PRAGMA query_only = ON');
    const outs = await Promise.allSettled(
      [1, 2, 3].map((seq) => failing.submit(msg('dayi/v1/NMR-1/state', state(seq, T0)))),
    );
    expect(outs.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((outs[0] as PromiseRejectedResult).reason)).toMatch(/readonly/);
    // a store failure is not retried message by message
    expect(lines.join('')).not.toMatch(/one by one/);
    expect(lines.join('')).toMatch(/ledger write failed: messages not acknowledged/);
    // what /healthz reports until a commit succeeds again; logged once, not per batch
    expect(ctx.storeFailure).toMatchObject({
      reason: expect.stringMatching(/^store read-only \(SQLITE_READONLY\)/),
      refused: 3,
    });
    await Promise.allSettled([failing.submit(msg('dayi/v1/NMR-1/state', state(4, T0)))]);
    expect(ctx.storeFailure?.refused).toBe(4);
    expect(lines.filter((l) => l.includes('store refuses writes'))).toHaveLength(1);
    ctx.db.exec('PRAGMA query_only = OFF');
    expect((await failing.submit(msg('dayi/v1/NMR-1/state', state(1, T0)))).outcome).toBe('accepted');
    expect(ctx.storeFailure).toBeNull();
    expect(lines.join('')).toMatch(/store accepts writes again/);
    await failing.close();
  });

  it('flushes on close and refuses later submissions', async () => {
    const pending = ingest.submit(msg('dayi/v1/NMR-1/state', state(1, T0)));
    await ingest.close();
    expect(one('SELECT COUNT(*) AS n FROM messages')).toEqual({ n: 1 });
    expect(await pending).toMatchObject({ outcome: 'accepted' });
    await expect(ingest.submit(msg('dayi/v1/NMR-1/state', state(2, T0)))).rejects.toThrow(/closed/);
  });
});
