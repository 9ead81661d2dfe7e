/**
 * rederive rebuilds observations, instrument_status and daily_usage from the ledger alone; the
 * result must equal what incremental ingest built, message by message, for any arrival order.
 */
import type { State } from '@dayi/protocols';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { CollectorContext } from '../src/context.ts';
import { recomputeDirty, rederive, upsertInstrument } from '../src/query/index.ts';
import { type DeriveDb, type Message, openDeriveDb } from './helpers/derive-db.ts';

const HOUR = 3_600_000;
const BASE = Date.parse('2026-11-02T00:00:00+08:00');
const NOW = BASE + 4 * 24 * HOUR;
const IDS = ['A-1', 'B-2', 'C-3'];

let t: DeriveDb | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function snapshot(ctx: CollectorContext) {
  recomputeDirty(ctx);
  return {
    observations: ctx.db.prepare('SELECT * FROM observations ORDER BY message_id').all(),
    status: ctx.db.prepare('SELECT * FROM instrument_status ORDER BY instrument_id').all(),
    usage: ctx.db
      .prepare(
        'SELECT instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, tail_state, tail_start FROM daily_usage ORDER BY instrument_id, date',
      )
      .all(),
    dirty: ctx.db.prepare('SELECT * FROM dirty_days ORDER BY instrument_id, date').all(),
  };
}

const state = fc.constantFrom<State>('off', 'standby', 'idle', 'running', 'fault');
// A few fixed instants make same-ts ties (the last inserted wins) frequent.
const ts = fc.oneof(
  fc.integer({ min: BASE - 6 * HOUR, max: BASE + 3 * 24 * HOUR }),
  fc.constantFrom(BASE, BASE + HOUR, BASE + 20 * HOUR),
);
const message = fc.oneof(
  fc.record({
    id: fc.constantFrom(...IDS),
    kind: fc.constant('telemetry' as const),
    ts,
    state: fc.option(state, { nil: undefined }),
    power: fc.integer({ min: 0, max: 900 }),
  }),
  fc.record({ id: fc.constantFrom(...IDS), kind: fc.constant('state' as const), ts, state }),
  fc.record({
    id: fc.constantFrom(...IDS),
    kind: fc.constant('status' as const),
    ts,
    online: fc.boolean(),
    agent: fc.constantFrom('pc-1', 'pc-2', undefined),
  }),
  fc.record({ id: fc.constantFrom(...IDS), kind: fc.constant('event' as const), ts }),
);

/** Messages with seq per (instrument, kind), some repeated (replays), in a shuffled arrival order. */
type Spec = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toMessages(specs: Spec[], repeats: number[]): Message[] {
  const seqs = new Map<string, number>();
  const out: Message[] = specs.map((s, i) => {
    const key = `${s.id}/${s.kind}`;
    const seq = seqs.get(key) ?? 0;
    seqs.set(key, seq + 1);
    // Arrival times collide too, so the status rule's tie-break on event time is exercised.
    const receivedAt = NOW - 1000 * ((i * 7) % 4);
    switch (s.kind) {
      case 'telemetry':
        return {
          id: s.id,
          kind: s.kind,
          receivedAt,
          payload: { ts: s.ts, seq, metrics: { power_w: s.power }, ...(s.state ? { state: s.state } : {}) },
        };
      case 'state':
        return {
          id: s.id,
          kind: s.kind,
          receivedAt,
          payload: { ts: s.ts, seq, state: s.state, since: s.ts },
        };
      case 'status':
        return {
          id: s.id,
          kind: s.kind,
          receivedAt,
          payload: {
            ts: s.ts,
            online: s.online,
            ...(s.agent ? { agent: { id: s.agent, version: '1.0.0' } } : {}),
          },
        };
      default:
        return {
          id: s.id,
          kind: s.kind,
          receivedAt,
          payload: { ts: s.ts, seq, type: 'vendor_fault', severity: 'warning' },
        };
    }
  });
  for (const r of repeats) if (out.length > 0) out.push(out[r % out.length]!);
  return out;
}

async function ingestAll(db: DeriveDb, messages: Message[], batch: number) {
  for (let i = 0; i < messages.length; i += batch) await db.sendAll(messages.slice(i, i + batch));
}

describe('rederive', () => {
  it('gives exactly what incremental ingest built, for any arrival order and batching', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 80 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 20 }),
        async (specs, repeats, batch) => {
          t = openDeriveDb({ timezone: 'Asia/Shanghai', offlineAfter: '2h' }, NOW);
          try {
            upsertInstrument(t.ctx, {
              id: 'A-1',
              quotaHours: 1400,
              thresholds: { signal: 'power_w', standby: 5, idle: 100, running: 400 },
            });
            await ingestAll(t, toMessages(specs, repeats), batch);
            const incremental = snapshot(t.ctx);
            rederive(t.ctx);
            expect(snapshot(t.ctx)).toEqual(incremental);
            rederive(t.ctx, 'A-1');
            expect(snapshot(t.ctx)).toEqual(incremental);
          } finally {
            await t.close();
            t = undefined;
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('applies new thresholds to telemetry already in the ledger', async () => {
    t = openDeriveDb({ timezone: 'UTC', offlineAfter: '5m' }, NOW);
    await t.sendAll(
      [0, 1, 2].map((i) => ({
        id: 'CT-1',
        kind: 'telemetry' as const,
        payload: { ts: BASE + i * 60_000, seq: i, metrics: { power_w: 300 } },
      })),
    );
    // No thresholds yet: metrics alone say nothing about the state.
    expect(snapshot(t.ctx).observations).toEqual([]);
    t.ctx.db
      .prepare('UPDATE instruments SET thresholds = ? WHERE id = ?')
      .run(JSON.stringify({ signal: 'power_w', standby: 5, idle: 100, running: 250 }), 'CT-1');
    expect(rederive(t.ctx, 'CT-1')).toEqual({ instruments: 1, messages: 3, observations: 3, days: 1 });
    const after = snapshot(t.ctx);
    expect(after.observations.map((o) => o.state)).toEqual(['running', 'running', 'running']);
    expect(after.usage).toEqual([
      {
        instrument_id: 'CT-1',
        date: '2026-11-01',
        powered_ms: 7 * 60_000,
        running_ms: 7 * 60_000,
        covered_ms: 7 * 60_000,
        span_ms: 86_400_000,
        // The day ends in unknown time, from when the last message went stale.
        tail_state: 'unknown',
        tail_start: BASE + 7 * 60_000,
      },
    ]);
  });
});
