import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bytes, ConfigError, duration, parseBytes, parseConfig, parseDuration } from '../src/index.ts';

const schema = z.strictObject({
  mqtt: z.strictObject({ url: z.string(), password: z.string().min(8) }),
  every: duration().default(10_000),
  maxBytes: bytes().default(1024),
  items: z.array(z.strictObject({ id: z.string() })).default([]),
});

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfig(text, schema, { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('config loading', () => {
  it('interpolates ${VAR} after parsing, so a secret cannot change the YAML', () => {
    const c = parseConfig(
      'mqtt: { url: "mqtt://h", password: "${PW}" }\nevery: 2m\nmaxBytes: 256MiB',
      schema,
      {
        env: { PW: 'a: b, "c" }' },
      },
    );
    expect(c).toMatchObject({ mqtt: { password: 'a: b, "c" }' }, every: 120_000, maxBytes: 256 * 1024 ** 2 });
  });

  it('names the path of every error, once', () => {
    const issues = issuesOf(
      'mqtt: { url: 5, password: "${PW}" }\nevery: soon\nitems: [{ id: a, idd: b }]\ntypo: 1',
    );
    expect(issues).toEqual([
      { line: 1, path: 'mqtt.password', message: 'environment variable PW is not set' },
      { line: 1, path: 'mqtt.url', message: 'got the number 5: give text' },
      { line: 2, path: 'every', message: expect.stringMatching(/invalid duration "soon"/) },
      { line: 3, path: 'items.0.idd', message: 'unknown key `idd` (did you mean `id`?)' },
      {
        line: 4,
        path: 'typo',
        message: 'unknown key `typo`: remove it; allowed here are mqtt, every, maxBytes, items',
      },
    ]);
  });

  it('reports YAML syntax errors', () => {
    expect(issuesOf('mqtt: [unclosed')[0]?.message).toMatch(/^YAML:/);
  });

  it('${VAR:-default} falls back', () => {
    expect(
      parseConfig('mqtt: { url: "${U:-mqtt://x}", password: "12345678" }', schema, { env: {} }).mqtt.url,
    ).toBe('mqtt://x');
  });
});

describe('units', () => {
  it('parses durations and sizes', () => {
    expect([
      parseDuration('500ms'),
      parseDuration('10s'),
      parseDuration('5m'),
      parseDuration('2h'),
      parseDuration('90d'),
    ]).toEqual([500, 10_000, 300_000, 7_200_000, 7_776_000_000]);
    expect([parseBytes('256MiB'), parseBytes('10MB'), parseBytes('4096'), parseBytes(12)]).toEqual([
      268435456, 10_000_000, 4096, 12,
    ]);
    expect(() => parseDuration('10 minutes')).toThrow(/invalid duration/);
    expect(() => parseBytes('lots')).toThrow(/invalid size/);
  });

  it('never throws anything but a clear Error on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        for (const f of [parseDuration, parseBytes]) {
          try {
            const v = f(s);
            if (!(Number.isFinite(v) && v >= 0)) return false;
          } catch (err) {
            if (!(err instanceof Error) || !/invalid/.test(err.message)) return false;
          }
        }
        return true;
      }),
    );
  });
});
