import { decodePayload, parseTopic } from '@dayi/protocols';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createIngest, type IncomingMessage } from '../src/ingest/index.ts';
import { makeContext, T0, tempDir } from './helpers/mqtt-harness.ts';

const ids = fc.constantFrom('NMR-1', 'NMR-2', 'XRD-1', 'bad id', '', 'A'.repeat(70), '+', '#');
const kinds = fc.constantFrom('telemetry', 'state', 'status', 'event', 'health', '', '#');
const topics = fc.oneof(
  fc.tuple(ids, kinds).map(([id, kind]) => `dayi/v1/${id}/${kind}`),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('$SYS/broker', 'dayi/v2/NMR-1/state', 'dayi/v1/NMR-1/state/extra', 'dayi/v1//state'),
);

const ts = fc.oneof(
  fc.integer({ min: T0 - 86_400_000, max: T0 + 86_400_000 }),
  fc.constantFrom(0, -1, 1.5, Number.POSITIVE_INFINITY, Number.NaN, 1764380000, 9e15),
);
const finiteOrNot = fc.oneof(fc.double(), fc.constantFrom('1', null, true));
const jsonish = fc.oneof(
  fc.record({
    ts,
    seq: fc.integer({ min: -2, max: 20 }),
    state: fc.constantFrom('running', 'off', 'exploded'),
  }),
  fc.record({
    ts,
    seq: fc.integer({ min: 0, max: 20 }),
    metrics: fc.dictionary(fc.constantFrom('power_w', 'current_a', 'Bad Name', 'x'), finiteOrNot),
  }),
  fc.record(
    { ts, seq: fc.nat(20), state: fc.constantFrom('running', 'idle'), since: ts, source: fc.string() },
    { requiredKeys: ['ts', 'seq', 'state'] },
  ),
  fc.record({ ts, online: fc.oneof(fc.boolean(), fc.constant('yes')) }),
  fc.record({ ts, seq: fc.nat(20), type: fc.constantFrom('vendor_fault', 'Bad'), severity: fc.string() }),
  fc.jsonValue(),
);
const payloads = fc.oneof(
  jsonish.map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.string().map((s) => Buffer.from(s)),
);
const allowed = fc.oneof(
  fc.constant<'all'>('all'),
  fc.subarray(['NMR-1', 'NMR-2', 'XRD-1']).map((a) => new Set(a) as ReadonlySet<string>),
);

/** Well-formed messages (valid for their topic's kind), so the property also covers acceptance. */
const goodTs = fc.integer({ min: T0 - 86_400_000, max: T0 + 86_400_000 });
const goodId = fc.constantFrom('NMR-1', 'NMR-2', 'XRD-1');
const good = fc.oneof(
  fc
    .tuple(goodId, goodTs, fc.nat(30), fc.double({ min: 0, max: 2000, noNaN: true }))
    .map(([id, t, seq, w]) => ({
      topic: `dayi/v1/${id}/telemetry`,
      body: { ts: t, seq, metrics: { power_w: w } },
    })),
  fc
    .tuple(goodId, goodTs, fc.nat(30), fc.constantFrom('off', 'standby', 'idle', 'running', 'fault'))
    .map(([id, t, seq, st]) => ({ topic: `dayi/v1/${id}/state`, body: { ts: t, seq, state: st, since: t } })),
  fc
    .tuple(goodId, goodTs, fc.boolean())
    .map(([id, t, online]) => ({ topic: `dayi/v1/${id}/status`, body: { ts: t, online } })),
  fc.tuple(goodId, goodTs, fc.nat(30)).map(([id, t, seq]) => ({
    topic: `dayi/v1/${id}/event`,
    body: { ts: t, seq, type: 'vendor_fault', severity: 'warning' },
  })),
);
const message = fc.oneof(
  fc.record({ topic: topics, payload: payloads, allowedInstruments: allowed }),
  fc.tuple(good, allowed).map(([g, a]) => ({
    topic: g.topic,
    payload: Buffer.from(JSON.stringify(g.body)),
    allowedInstruments: a,
  })),
);

describe('ingest: arbitrary topics and payload bytes (property)', () => {
  const tmp = tempDir();
  const ctx = makeContext(`${tmp.dir}/fuzz.sqlite`);
  const ingest = createIngest(ctx);
  const count = (table: string) =>
    (ctx.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  // refused messages: a row per distinct one, repeats counted in it, and beyond the agent's rate
  // only counted in /metrics; none is lost track of
  const refusedSoFar = async () => {
    const kept = (ctx.db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM rejected').get() as { n: number })
      .n;
    const text = await ctx.metrics.registry.metrics();
    const unstored = Number(/^dayi_mqtt_rejected_unstored_total (\d+)/m.exec(text)?.[1] ?? 0);
    return kept + unstored;
  };
  const skew = ctx.config.mqtt.maxClockSkew;
  afterAll(async () => {
    await ingest.close();
    ctx.db.close();
    tmp.remove();
  });

  it('never throws, and changes the ledger only for valid, authorized, new messages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, {
          minLength: 1,
          maxLength: 8,
        }),
        async (batch) => {
          const messagesBefore = count('messages');
          const refusedBefore = await refusedSoFar();
          const msgs: IncomingMessage[] = batch.map((b) => ({
            ...b,
            clientId: 'fuzz',
            username: 'fuzzer',
            receivedAt: T0,
          }));
          // submitted together: one group commit, duplicates inside the batch included
          const outcomes = await Promise.all(msgs.map((m) => ingest.submit(m)));
          outcomes.forEach((o, i) => {
            const m = msgs[i]!;
            const topic = parseTopic(m.topic);
            const authorized =
              topic !== null &&
              (m.allowedInstruments === 'all' || m.allowedInstruments.has(topic.instrumentId));
            const decoded = topic !== null ? decodePayload(topic.kind, m.payload) : null;
            const valid = decoded?.ok === true && decoded.payload.ts <= m.receivedAt + skew;
            if (o.outcome === 'accepted' || o.outcome === 'duplicate') expect(authorized && valid).toBe(true);
            else expect(o.reason, o.outcome).toMatch(/\S/);
            if (authorized && valid) expect(['accepted', 'duplicate']).toContain(o.outcome);
            if (topic !== null && !authorized) expect(o.outcome).toBe('unauthorized');
          });
          const accepted = outcomes.filter((o) => o.outcome === 'accepted').length;
          const refused = outcomes.filter(
            (o) => o.outcome === 'rejected' || o.outcome === 'unauthorized',
          ).length;
          expect(count('messages') - messagesBefore).toBe(accepted);
          expect((await refusedSoFar()) - refusedBefore).toBe(refused);
        },
      ),
      { numRuns: 300 },
    );
    // the property was not vacuous: some messages went each way
    expect(count('messages')).toBeGreaterThan(0);
    expect(count('rejected')).toBeGreaterThan(0);
  });
});
