import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePayload, plainTelemetry, STATES, telemetrySchema } from '../src/mqtt/payloads.ts';

// Values near every boundary telemetrySchema checks, and a few of the wrong type.
const tsArb = fc.oneof(
  fc.integer({ min: 946_684_800_000 - 2, max: 946_684_800_000 + 2 }),
  fc.integer({ min: 7_258_118_400_000 - 2, max: 7_258_118_400_000 + 2 }),
  fc.integer({ min: 946_684_800_000, max: 7_258_118_400_000 }),
  fc.double(),
  fc.constantFrom(1_764_380_000, '1764380000000', null, 1_764_380_000_000.5),
);
const seqArb = fc.oneof(
  fc.nat(),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1.5, '7', null),
);
const nameArb = fc.oneof(
  fc.constantFrom('power_w', 'current_a', 'voltage_v', 'energy_kwh', 'a', 'x'.repeat(64), 'x'.repeat(65)),
  fc.constantFrom('Power', '1x', '_w', '__proto__', 'constructor', 'toString', 'power-w', ''),
  fc.string({ maxLength: 8 }),
);
const metricValueArb = fc.oneof(fc.double(), fc.integer(), fc.constantFrom('1', null, true, [1], { v: 1 }));
const metricsArb = fc.oneof(
  fc.dictionary(nameArb, metricValueArb, { maxKeys: 6 }),
  fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    {
      minKeys: 60,
      maxKeys: 70,
    },
  ),
  fc.constantFrom(null, [], 'x', 1),
);
const stateArb = fc.oneof(fc.constantFrom(...STATES), fc.constantFrom('RUNNING', 'unknown', '', null, 1));
const epochArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.constantFrom('', 'x'.repeat(65), 'a b', 'ü', 7, null),
);
const telemetryLike = fc.record(
  { ts: tsArb, seq: seqArb, metrics: metricsArb, state: stateArb, epoch: epochArb, extra: fc.anything() },
  { requiredKeys: [] },
);

/** What the collector sees: a JSON round trip of what an agent sent. */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null');

describe('telemetry fast path', () => {
  it('returns exactly what telemetrySchema returns, or defers to zod', () => {
    fc.assert(
      fc.property(fc.oneof(telemetryLike, fc.jsonValue()), (value) => {
        const json = asJson(value);
        const fast = plainTelemetry(json);
        const zod = telemetrySchema.safeParse(json);
        if (fast !== null) {
          expect(zod.success).toBe(true);
          expect(fast).toStrictEqual(zod.data);
          expect(Object.keys(fast)).toEqual(Object.keys(zod.data!));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('takes every valid telemetry zod takes, so the fast path is the one that runs', () => {
    const valid = fc.record(
      {
        ts: fc.integer({ min: 946_684_800_000, max: 7_258_118_400_000 }),
        seq: fc.nat(),
        metrics: fc.dictionary(
          fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          {
            maxKeys: 64,
          },
        ),
        state: fc.constantFrom(...STATES),
        epoch: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      },
      { requiredKeys: ['ts', 'seq', 'metrics'] },
    );
    fc.assert(
      fc.property(valid, (value) => {
        const json = asJson(value);
        expect(telemetrySchema.safeParse(json).success).toBe(true);
        expect(plainTelemetry(json)).toStrictEqual(telemetrySchema.parse(json));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with zod on keys only JSON text can carry (__proto__), and on look-alikes', () => {
    for (const metrics of ['{"__proto__":1}', '{"power_w":1,"__proto__":{"x":1}}', '{"constructor":1}']) {
      const text = `{"ts":1764380000000,"seq":1,"metrics":${metrics}}`;
      const json = JSON.parse(text);
      const zod = telemetrySchema.parse(json); // zod drops a __proto__ key from a record
      const fast = plainTelemetry(json);
      if (metrics.includes('__proto__')) expect(fast).toBeNull();
      else expect(fast).toStrictEqual(zod);
      expect(decodePayload('telemetry', Buffer.from(text))).toStrictEqual({ ok: true, payload: zod, text });
    }
  });

  it('explains a bad telemetry with zod’s reasons, and keeps the text of a good one', () => {
    const bad = decodePayload('telemetry', Buffer.from('{"ts":1764380000000,"seq":1,"metrics":{"Power":1}}'));
    expect(bad).toEqual({ ok: false, reason: 'metrics.Power: metric names are snake_case, e.g. power_w' });
    const text = '{"ts":1764380000000,"seq":1,"metrics":{"power_w":512.3},"state":"running","x":1}';
    expect(decodePayload('telemetry', Buffer.from(text))).toEqual({
      ok: true,
      payload: { ts: 1764380000000, seq: 1, metrics: { power_w: 512.3 }, state: 'running' },
      text,
    });
  });
});
