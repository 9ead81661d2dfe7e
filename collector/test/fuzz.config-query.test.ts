/**
 * Property-based fuzzing (issue 9) of the collector's other parsers: the configuration loader (YAML
 * text and environment) and the HTTP query parsers of every GET route, through `inject()`. None may
 * crash: a bad config is a ConfigError naming paths, a bad query a 400 in the error format; a good
 * config loses none of what it says.
 */
import { ConfigError } from '@dayi/protocols';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseCollectorConfigText } from '../src/config.ts';
import { auth, buildApi } from './helpers/e2e-api.ts';

const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('${HOME}', '${NOPE}', '${X:-y}', '5m', '10MiB', '-1', '0', 'https://x', '127.0.0.1'),
);
const keys = fc.constantFrom(
  'http',
  'mqtt',
  'store',
  'tls',
  'cert',
  'key',
  'ca',
  'port',
  'host',
  'maxClockSkew',
  'connectThrottle',
  'rejects',
  'rejected',
  'maxBytes',
  'agents',
  'username',
  'password',
  'instruments',
  'apiKeys',
  'role',
  'timezone',
  'offlineAfter',
  'log',
  'level',
  '__proto__',
  'constructor',
);
const tree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(keys, tie('node'), { maxKeys: 4 }),
  ),
})).node;

describe('collector config loader (property)', () => {
  it('never throws anything but a ConfigError with paths, whatever the YAML', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          tree.map((t) => stringify(t)),
          fc.string({ maxLength: 200 }),
        ),
        fc.dictionary(fc.constantFrom('HOME', 'X', 'NOPE'), fc.string({ maxLength: 10 })),
        (text, env) => {
          try {
            parseCollectorConfigText(text, env);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            for (const issue of (err as ConfigError).issues) expect(typeof issue.path).toBe('string');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('keeps every agent, key and limit of a valid config', () => {
    const agent = fc.record({
      username: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,20}$/),
      password: fc.string({ minLength: 8, maxLength: 30 }),
      instruments: fc.array(fc.stringMatching(/^[A-Z][A-Z0-9-]{0,10}$/), { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(agent, { selector: (a) => a.username, maxLength: 5 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        (agents, perMinute, skewMs) => {
          const text = stringify({ agents, mqtt: { maxClockSkew: skewMs, rejects: { perMinute } } });
          const c = parseCollectorConfigText(text, {});
          expect(c.agents).toEqual(agents);
          expect(c.mqtt.rejects.perMinute).toBe(perMinute);
          expect(c.mqtt.maxClockSkew).toBe(skewMs);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('HTTP query parsers (property, through inject)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi();
  });
  afterAll(async () => {
    await app.close();
  });

  const value = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer().map(String),
    fc.constantFrom(
      '2026-11-01',
      '2026-02-30',
      '2026-11-31',
      '0000-01-01',
      '9999-12-31',
      '1e3',
      '',
      '%',
      '%zz',
    ),
  );
  const query = fc.dictionary(
    fc.constantFrom('from', 'to', 'limit', 'cursor', 'days', 'groupBy', 'x', 'from[]'),
    fc.oneof(value, fc.array(value, { maxLength: 3 })),
    { maxKeys: 4 },
  );
  const routes = fc.constantFrom(
    '/v1/instruments',
    '/v1/idle',
    '/v1/instruments/NMR-1/usage',
    '/v1/instruments/no%20such/usage',
  );

  it('answers any query with 200 or a 4xx in the error format, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(routes, query, async (route, q) => {
        const res = await app.inject({ method: 'GET', url: route, query: q, headers: auth('platform') });
        expect(res.statusCode, `${route} ${JSON.stringify(q)}: ${res.body}`).toBeLessThan(500);
        if (res.statusCode >= 400) {
          const body = res.json() as { error: { code: string; message: string } };
          expect(body.error.code).toMatch(/^[a-z_]+$/);
          expect(body.error.message).toMatch(/\S/);
        }
      }),
      { numRuns: 400 },
    );
  });
});
