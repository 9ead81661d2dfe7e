/**
 * Property-based fuzzing of the parsers at the MQTT border (issue 9): none may throw, and nothing
 * they accept may be lost or changed on the way (a topic parses back to itself, a decoded payload
 * encodes and decodes to the same value, and keeps every field the schema knows).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePayload,
  encodePayload,
  payloadSchemas,
  STATES,
  statePayloadSchema,
} from '../src/mqtt/payloads.ts';
import { parseTopic, TOPIC_KINDS, topicFor } from '../src/mqtt/topics.ts';

const kinds = fc.constantFrom(...TOPIC_KINDS);
const idChars = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const topicLike = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .tuple(fc.constantFrom('dayi/v1', 'dayi/v2', 'DAYI/v1', 'dayi/v1/', '', '$dayi'), idChars, kinds)
    .map(([root, id, kind]) => `${root}/${id}/${kind}`),
  fc
    .tuple(idChars, fc.constantFrom('+', '#', '', 'x', 'telemetry/x', 'state '))
    .map(([id, kind]) => `dayi/v1/${id}/${kind}`),
);

describe('topic parser (property)', () => {
  it('never throws, and what it accepts is exactly a topic it would build', () => {
    fc.assert(
      fc.property(topicLike, (topic) => {
        const parsed = parseTopic(topic);
        if (parsed) expect(topicFor(parsed.instrumentId, parsed.kind)).toBe(topic);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts every valid id and kind', () => {
    fc.assert(
      fc.property(idChars, kinds, (id, kind) => {
        expect(parseTopic(topicFor(id, kind))).toEqual({ instrumentId: id, kind });
      }),
    );
  });
});

const ts = fc.oneof(
  fc.integer({ min: 946_684_800_000, max: 7_258_118_400_000 }),
  fc.constantFrom(0, -1, 1.5, 1_764_380_000, 9e15, Number.MAX_SAFE_INTEGER + 2),
);
const epoch = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.constantFrom('', 'a b', 'x'.repeat(65)),
);
const plausible = fc.oneof(
  fc.record(
    {
      ts,
      seq: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5)),
      metrics: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), fc.oneof(fc.double(), fc.integer())),
      state: fc.constantFrom(...STATES, 'unknown'),
      epoch,
    },
    { requiredKeys: ['ts', 'seq', 'metrics'] },
  ),
  fc.record(
    { ts, seq: fc.nat(), state: fc.constantFrom(...STATES), since: ts, source: fc.string(), epoch },
    { requiredKeys: ['ts', 'seq', 'state', 'since'] },
  ),
  fc.record(
    {
      ts,
      online: fc.boolean(),
      agent: fc.record({
        id: fc.string({ minLength: 1, maxLength: 10 }),
        version: fc.string({ maxLength: 5 }),
      }),
      inputs: fc.array(
        fc.record({ name: fc.string(), type: fc.string({ maxLength: 5 }), connected: fc.boolean() }),
        { maxLength: 3 },
      ),
    },
    { requiredKeys: ['ts', 'online'] },
  ),
  fc.record(
    {
      ts,
      seq: fc.nat(),
      type: fc.constantFrom('vendor_fault', 'data_gap', 'Bad'),
      severity: fc.constantFrom('info', 'warning', 'critical', 'fatal'),
      detail: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
      epoch,
    },
    { requiredKeys: ['ts', 'seq', 'type', 'severity'] },
  ),
  fc.jsonValue(),
);
const raw = fc.oneof(
  plausible.map((v) => JSON.stringify(v) ?? 'null'),
  fc.string(),
  fc.uint8Array({ maxLength: 300 }),
);

describe('payload decoders (property)', () => {
  it('never throw; what they accept keeps its text and survives a re-encode unchanged', () => {
    fc.assert(
      fc.property(kinds, raw, (kind, input) => {
        const r = decodePayload(kind, input);
        if (!r.ok) {
          expect(r.reason).toMatch(/\S/);
          return;
        }
        const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
        expect(r.text).toBe(text);
        // everything the schema knows in the JSON is in the payload, with the same value
        const json = JSON.parse(text) as Record<string, unknown>;
        for (const [key, value] of Object.entries(r.payload)) expect(json[key]).toEqual(value);
        const again = decodePayload(kind, encodePayload(kind, r.payload));
        expect(again.ok).toBe(true);
        if (again.ok) expect(again.payload).toEqual(r.payload);
        expect(payloadSchemas[kind].safeParse(r.payload).success).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses a state whose since is after its ts, and takes since = ts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 946_684_800_000, max: 7_258_118_400_000 - 1 }),
        fc.nat(10_000),
        (t, d) => {
          const ok = statePayloadSchema.safeParse({ ts: t, seq: 1, state: 'idle', since: t - d });
          const bad = statePayloadSchema.safeParse({ ts: t, seq: 1, state: 'idle', since: t + d + 1 });
          expect(ok.success).toBe(t - d >= 946_684_800_000);
          expect(bad.success).toBe(false);
        },
      ),
    );
  });
});
