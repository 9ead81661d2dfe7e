import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePayload, MAX_PAYLOAD_BYTES, parseTopic, topicFor } from '../src/index.ts';

describe('MQTT v1 topics', () => {
  it('builds and parses every kind', () => {
    for (const kind of ['telemetry', 'state', 'status', 'event'] as const) {
      expect(parseTopic(topicFor('ZJ-NMR-0001', kind))).toEqual({ instrumentId: 'ZJ-NMR-0001', kind });
    }
  });

  it('rejects other roots, versions, kinds and bad ids', () => {
    for (const t of [
      'dayi/v2/A/state',
      'x/v1/A/state',
      'dayi/v1/A/foo',
      'dayi/v1/-A/state',
      'dayi/v1/A/state/x',
      'dayi/v1//state',
    ]) {
      expect(parseTopic(t)).toBeNull();
    }
    expect(() => topicFor('bad id', 'state')).toThrow(/invalid instrument id/);
  });

  it('parseTopic never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseTopic(s);
        return r === null || topicFor(r.instrumentId, r.kind) === s;
      }),
    );
  });
});

describe('payload validation', () => {
  it('accepts the SPEC examples', () => {
    expect(
      decodePayload(
        'telemetry',
        '{"ts":1764380000000,"seq":42,"metrics":{"power_w":512.3,"current_a":2.31},"state":"running"}',
      ).ok,
    ).toBe(true);
    expect(
      decodePayload(
        'state',
        '{"ts":1764380000000,"seq":1,"state":"running","since":1764379000000,"source":"power_w"}',
      ).ok,
    ).toBe(true);
    expect(
      decodePayload(
        'status',
        '{"ts":1764380000000,"online":true,"agent":{"id":"lab3-pc7","version":"1.0.0"}}',
      ).ok,
    ).toBe(true);
    expect(
      decodePayload(
        'event',
        '{"ts":1764380000000,"seq":3,"type":"vendor_fault","severity":"warning","detail":{"code":7}}',
      ).ok,
    ).toBe(true);
  });

  it('names what was wrong', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['{"ts":1764380000000,"seq":1,"metrics":{"power_w":"5"}}', /metrics\.power_w/],
      ['{"ts":1764380000000,"seq":1,"metrics":{"power_w":1e999}}', /metrics\.power_w/],
      ['{"ts":1764380000,"seq":1,"metrics":{}}', /ts: must be ms since epoch/],
      ['{"ts":1764380000000,"seq":-1,"metrics":{}}', /seq/],
      ['{"ts":1764380000000,"seq":1,"metrics":{},"state":"unknown"}', /state/],
      ['{"ts":1764380000000,"seq":1,"metrics":{"Power W":1}}', /snake_case/],
    ];
    for (const [text, reason] of cases) {
      const r = decodePayload('telemetry', text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
    const big = `{"ts":1764380000000,"seq":1,"metrics":{},"pad":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}`;
    expect(decodePayload('telemetry', big)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/too large/),
    });
    expect(decodePayload('telemetry', new Uint8Array([0xff, 0xfe]))).toMatchObject({
      ok: false,
      reason: 'not UTF-8',
    });
  });

  it('never throws on arbitrary bytes or JSON', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        (b) => typeof decodePayload('telemetry', b).ok === 'boolean',
      ),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => typeof decodePayload('state', JSON.stringify(v)).ok === 'boolean'),
    );
  });
});
