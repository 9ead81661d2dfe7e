import { Point } from '@influxdata/influxdb-client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxWriteError, parseRetryAfter, retryDelay } from '../src/influx/client.ts';
import { gzipLevel } from '../src/influx/config.ts';
import {
  alertLine,
  createTelemetryEncoder,
  detailText,
  fieldText,
  LineBatch,
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

// What line protocol escapes, or fails on when it is not escaped.
const tricky = fc.constantFrom(' ', ',', '=', '\\', '"', "'", '\n', '\t', 'a', '中', '=\\', '\\ ');
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: tricky, maxLength: 12 }),
);
const optionalText = fc.option(text, { nil: null });
const metricName = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/),
  fc.constantFrom('state', 'seq', 'org', 'instrument', 'category', 'time', 'metric_state', 'power_w'),
);
const finite = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());

/** The reference: the same point built with @influxdata/influxdb-client's `Point`. */
function withPoint(
  measurement: string,
  tags: Record<string, string | null>,
  fields: (p: Point) => void,
  time: string,
): string {
  const p = new Point(measurement);
  for (const [k, v] of Object.entries(tags)) {
    const clean = tagValue(v);
    if (clean !== null) p.tag(k, clean);
  }
  fields(p);
  return p.timestamp(time).toLineProtocol()!;
}

describe('line protocol is byte for byte what Point writes', () => {
  it('telemetry, on generated ids, registry entries, metrics and states', () => {
    const encode = createTelemetryEncoder();
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 16 }),
        optionalText,
        optionalText,
        fc.array(fc.tuple(metricName, finite), { maxLength: 6 }),
        fc.option(fc.constantFrom('off', 'idle', 'running'), { nil: undefined }),
        fc.nat(),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (id, org, category, metricList, state, seq, ts) => {
          const metrics = Object.fromEntries(metricList);
          const t = { ts, seq, metrics, ...(state ? { state } : {}) };
          const expected = withPoint(
            'telemetry',
            { instrument: id, org, category },
            (p) => {
              for (const name in metrics) p.floatField(metricField(name), metrics[name]);
              if (state) p.stringField('state', state);
              p.intField('seq', seq);
            },
            nsTime(ts, seq),
          );
          // Twice: the second line comes from the encoder's cached series key.
          expect(encode(id, org, category, t)).toBe(expected);
          expect(encode(id, org, category, t)).toBe(expected);
          expect(telemetryLine(id, { org, category }, t)).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('state, usage_daily and alert', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 16 }),
        optionalText,
        optionalText,
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
        fc.tuple(text, text, text, text, text),
        (id, org, category, start, length, [kind, type, severity, status, detail]) => {
          const end = length === undefined ? undefined : start + length;
          expect(
            stateLine({ instrumentId: id, org, state: 'idle', start, ...(end !== undefined ? { end } : {}) }),
          ).toBe(
            withPoint(
              'state',
              { instrument: id, org },
              (p) => {
                p.stringField('state', 'idle');
                if (end !== undefined) p.floatField('duration_s', (end - start) / 1000);
              },
              nsTime(start),
            ),
          );
          const day = { poweredMs: start % 86_400_000, runningMs: 3_600_000, coveredMs: 1, spanMs: 3 };
          expect(usageLine({ instrumentId: id, org, category, dayStart: start, ...day })).toBe(
            withPoint(
              'usage_daily',
              { instrument: id, org, category },
              (p) => {
                p.floatField('powered_h', day.poweredMs / 3_600_000);
                p.floatField('running_h', day.runningMs / 3_600_000);
                p.floatField('coverage', day.coveredMs / day.spanMs);
              },
              nsTime(start),
            ),
          );
          expect(
            alertLine({ id: 3, instrumentId: id, org, kind, type, severity, status, at: start, detail }),
          ).toBe(
            withPoint(
              'alert',
              { instrument: id, org, kind, type, severity },
              (p) => {
                p.stringField('status', fieldText(status));
                p.stringField('detail', detailText(detail));
              },
              nsTime(start, 3),
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a batch is its request body', () => {
  it('holds the lines joined by newlines, grows as needed, and splits back into them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map(fieldText), {
          maxLength: 50,
        }),
        fc.integer({ min: 1, max: 64 }),
        (lines, capacity) => {
          const b = new LineBatch(capacity);
          for (const l of lines) b.push(l);
          expect(b.count).toBe(lines.length);
          expect(b.text.toString()).toBe(lines.map((l) => `${l}\n`).join(''));
          expect(b.lines()).toEqual(lines);
          expect(LineBatch.of(lines).text.equals(b.text)).toBe(true);
        },
      ),
    );
  });
});

describe('gzip', () => {
  it('true is level 1, a level is taken as given, false is none', () => {
    expect(gzipLevel({ gzip: true })).toBe(1);
    expect(gzipLevel({ gzip: 6 })).toBe(6);
    expect(gzipLevel({ gzip: false })).toBeNull();
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
