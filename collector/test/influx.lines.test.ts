import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxWriteError, parseRetryAfter, retryDelay } from '../src/influx/client.ts';
import {
  alertLine,
  detailText,
  metricField,
  nsTime,
  stateLine,
  tagValue,
  telemetryLine,
  usageLine,
} from '../src/influx/lines.ts';
import { foldRuns } from '../src/influx/runs.ts';
import { type Influxd, startInfluxd } from './helpers/influxd.ts';

describe('line protocol of the four measurements', () => {
  it('writes the tags and fields of the schema, in ns', () => {
    expect(
      telemetryLine(
        'ZJ-NMR-0001',
        { org: 'Zhejiang University', category: 'NMR' },
        { ts: 1_764_380_000_000, seq: 42, metrics: { power_w: 512.3, current_a: 2 }, state: 'running' },
      ),
    ).toBe(
      'telemetry,category=NMR,instrument=ZJ-NMR-0001,org=Zhejiang\\ University current_a=2,power_w=512.3,seq=42i,state="running" 1764380000000000042',
    );
    expect(stateLine({ instrumentId: 'A', org: null, state: 'idle', start: 1000, end: 61_000 })).toBe(
      'state,instrument=A duration_s=60,state="idle" 1000000000',
    );
    expect(stateLine({ instrumentId: 'A', org: 'O', state: 'unknown', start: 1000 })).toBe(
      'state,instrument=A,org=O state="unknown" 1000000000',
    );
    expect(
      usageLine({
        instrumentId: 'A',
        org: 'O',
        category: null,
        dayStart: 1_764_345_600_000,
        poweredMs: 9_000_000,
        runningMs: 3_600_000,
        coveredMs: 43_200_000,
        spanMs: 86_400_000,
      }),
    ).toBe('usage_daily,instrument=A,org=O coverage=0.5,powered_h=2.5,running_h=1 1764345600000000000');
    expect(
      alertLine({
        id: 7,
        instrumentId: 'A',
        org: null,
        kind: 'idle',
        type: 'idle_days',
        severity: 'warning',
        status: 'open',
        at: 5,
        detail: '{"idleDays":95,"note":"a \\"b\\""}',
      }),
    ).toBe(
      'alert,instrument=A,kind=idle,severity=warning,type=idle_days detail="{\\"idleDays\\":95,\\"note\\":\\"a \\\\\\"b\\\\\\"\\"}",status="open" 5000007',
    );
  });

  it('keeps metric fields apart from tags and its own fields', () => {
    for (const name of ['instrument', 'org', 'category', 'state', 'seq', 'time'])
      expect(metricField(name)).toBe(`metric_${name}`);
    expect(metricField('power_w')).toBe('power_w');
    expect(tagValue('a\\\\')).toBe('a');
    expect(tagValue('')).toBeNull();
    expect(tagValue('x\ny')).toBe('x y');
    expect(tagValue('a\tb')).toBe('a b');
    expect(nsTime(1, 1_000_001)).toBe('1000001');
    expect(detailText('{\n  "a": 1\n}')).toBe('{"a":1}');
    expect(detailText('line 1\nline 2')).toBe('line 1 line 2');
    expect(nsTime(1_764_380_000_000, 7)).toBe('1764380000000000007');
  });
});

describe('retries', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:30 GMT')),
    ).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('waits what Retry-After asks (up to the cap), else doubles from 1 s', () => {
    const asked = new InfluxWriteError('retry', 'http_429', 'slow down', 429, 7000);
    expect(retryDelay(asked, 1, 300_000)).toBe(7000);
    expect(retryDelay(asked, 1, 5000)).toBe(5000);
    const down = new InfluxWriteError('retry', 'network', 'ECONNREFUSED');
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 10].map((n) => retryDelay(down, n, 60_000, mid))).toEqual([
      1000, 2000, 4000, 8000, 60_000,
    ]);
  });
});

describe('state intervals', () => {
  it('closes an interval at the next state, or at offlineAfter when evidence stops', () => {
    const r = foldRuns(
      null,
      [
        { ts: 0, state: 'idle' },
        { ts: 100, state: 'idle' },
        { ts: 200, state: 'running' },
        { ts: 150, state: 'off' }, // late: left out
        { ts: 1000, state: 'running' },
      ],
      300,
    );
    expect(r.late).toBe(1);
    expect(r.intervals).toEqual([
      { state: 'idle', start: 0 },
      { state: 'idle', start: 0, end: 200 },
      { state: 'running', start: 200 },
      { state: 'running', start: 200, end: 500 },
      { state: 'unknown', start: 500, end: 1000 },
      { state: 'running', start: 1000 },
    ]);
    expect(r.open).toEqual({ state: 'running', start: 1000, lastTs: 1000 });
  });
});

// What line protocol escapes, or fails on when it is not escaped.
const tricky = fc.constantFrom(' ', ',', '=', '\\', '"', "'", '\n', '\t', 'a', '中', '=\\', '\\ ');

describe('escaping, through a real influxd', () => {
  let influxd: Influxd;
  beforeAll(async () => {
    influxd = await startInfluxd();
    await influxd.query('CREATE DATABASE esc');
  });
  afterAll(() => influxd?.close());

  it('reads back every tag and string field exactly as written (tags as tagValue cleans them)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
          fc.string({ unit: tricky, minLength: 1, maxLength: 12 }),
        ),
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: tricky, maxLength: 12 })),
        async (org, detail) => {
          const id = `ESC-${n++}`;
          await influxd.write(
            alertLine({
              id: 1,
              instrumentId: id,
              org,
              kind: 'anomaly',
              type: 't',
              severity: 'info',
              status: 's',
              at: 1000,
              detail,
            }),
            'esc',
          );
          const series = await influxd.query(
            `SELECT "detail" FROM "alert" WHERE "instrument" = '${id}' GROUP BY "org"`,
            'esc',
          );
          const cleaned = tagValue(org);
          expect(series[0]!.tags!.org).toBe(cleaned ?? '');
          expect(series[0]!.values[0]![1]).toBe(detailText(detail));
        },
      ),
      { numRuns: 200 },
    );
  });
});
