import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLineFormat, type LineFormat, LineParser, parseLine } from '../src/serial/index.ts';

function compiled(regex: string, scale?: Record<string, number>): LineFormat {
  const r = compileLineFormat(scale ? { regex, scale } : { regex });
  if (!r.ok) throw new Error(r.reason);
  return r.format;
}

describe('serial line format', () => {
  it('turns each named group into a metric', () => {
    const f = compiled('I=(?<current_a>[0-9.]+)');
    expect(f.metrics).toEqual(['current_a']);
    expect(parseLine(f, 'I=2.31')).toEqual({ ok: true, metrics: { current_a: 2.31 } });
    expect(parseLine(f, '#12 I=0.5 A')).toEqual({ ok: true, metrics: { current_a: 0.5 } });
  });

  it('reads several metrics and applies scale', () => {
    const f = compiled('V=(?<voltage_v>\\S+) I=(?<current_a>\\S+)mA P=(?<power_w>-?[0-9.eE+-]+)', {
      current_a: 0.001,
    });
    expect(parseLine(f, 'V=230.1 I=1500mA P=-1.2e3')).toEqual({
      ok: true,
      metrics: { voltage_v: 230.1, current_a: 1.5, power_w: -1200 },
    });
  });

  it('leaves out an optional group that did not match', () => {
    const f = compiled('P=(?<power_w>[0-9.]+)(?: T=(?<temperature_c>[0-9.]+))?');
    expect(parseLine(f, 'P=12')).toEqual({ ok: true, metrics: { power_w: 12 } });
    expect(parseLine(f, 'P=12 T=40.5')).toEqual({ ok: true, metrics: { power_w: 12, temperature_c: 40.5 } });
  });

  it('says why a line gives no reading', () => {
    const f = compiled('I=(?<current_a>\\S+)');
    expect(parseLine(f, 'hello')).toMatchObject({ ok: false, reason: 'no_match' });
    for (const bad of ['I=abc', 'I=Infinity', 'I=0x10', 'I=1.2.3', 'I=NaN']) {
      expect(parseLine(f, bad)).toMatchObject({ ok: false, reason: 'not_a_number' });
    }
    expect(parseLine(f, 'I=abc')).toMatchObject({ detail: 'current_a: "abc" is not a number' });
    // A scale that overflows is not a reading either.
    expect(parseLine(compiled('I=(?<current_a>\\S+)', { current_a: 1e300 }), 'I=1e10')).toMatchObject({
      ok: false,
      reason: 'not_a_number',
    });
  });

  it('counts matched, unmatched and non-numeric lines', () => {
    const p = new LineParser(compiled('I=(?<current_a>\\S+)'));
    for (const l of ['I=1', 'I=2', 'garbage', 'I=x', '']) p.parse(l);
    expect(p.stats()).toEqual({ matched: 2, unmatched: 2, notANumber: 1 });
  });

  it('refuses formats with a named reason', () => {
    const reason = (regex: string, scale?: Record<string, number>) => {
      const r = compileLineFormat(scale ? { regex, scale } : { regex });
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason('')).toMatch(/empty/);
    expect(reason('I=(?<current_a>[0-9.]+')).toMatch(/does not compile/);
    expect(reason('I=([0-9.]+)')).toMatch(/no named group/);
    expect(reason('I=(?<CurrentA>[0-9.]+)')).toMatch(/"CurrentA" is not a metric name/);
    expect(reason('I=(?<current_a>\\d+)', { power_w: 2 })).toMatch(/scale.power_w: the regex has no group/);
    expect(reason('I=(?<current_a>\\d+)', { current_a: Number.NaN })).toMatch(/finite/);
    // Look-behinds, escaped parentheses and classes are not groups.
    expect(reason('(?<=x)\\(?<a_b>[(?<c>]')).toMatch(/no named group/);
    expect(compileLineFormat({ regex: '(?<=I=)(?<current_a>\\d+)' })).toMatchObject({
      ok: true,
      format: { metrics: ['current_a'] },
    });
  });

  it('never throws, whatever the line (property)', () => {
    const formats = [
      compiled('I=(?<current_a>[0-9.]+)'),
      compiled('(?<power_w>\\S*)'),
      compiled('^(?<voltage_v>.*?),(?<current_a>.*)$', { current_a: 1e-3 }),
    ];
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom(...formats), (line, f) => {
        const out = parseLine(f, line);
        if (out.ok) {
          for (const v of Object.values(out.metrics)) expect(Number.isFinite(v)).toBe(true);
        } else {
          expect(['no_match', 'not_a_number']).toContain(out.reason);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
