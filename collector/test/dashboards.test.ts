import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../src/app.ts';

const DASHBOARD = new URL('../../dashboards/grafana/dayi-collector.json', import.meta.url);

describe('Grafana dashboard', () => {
  let app: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    app = await build(
      {
        http: { host: '127.0.0.1', port: 0 },
        mqtt: { host: '127.0.0.1', port: 0 },
        store: { sqlite: join(mkdtempSync(join(tmpdir(), 'dayi-dash-')), 'dayi.sqlite') },
        // the shipper's metrics exist from the start (nothing listens there: it only retries)
        influx: { url: 'http://127.0.0.1:9', database: 'dayi' },
      },
      { logger: false },
    );
  });
  afterAll(() => app.close());

  it('queries only series and labels the collector exports', async () => {
    // Traffic first, so that labelled series appear in the exposition: a request, an accepted and a
    // rejected message, a refused CONNECT.
    await app.inject({ method: 'GET', url: '/healthz' });
    const msg = { clientId: 'c', username: 'u', allowedInstruments: 'all' as const, receivedAt: Date.now() };
    const good = JSON.stringify({ ts: Date.now(), seq: 1, metrics: { power_w: 1 }, state: 'off' });
    await app.dayi.ingest.submit({ ...msg, topic: 'dayi/v1/A1/telemetry', payload: Buffer.from(good) });
    await app.dayi.ingest.submit({ ...msg, topic: 'dayi/v1/A1/telemetry', payload: Buffer.from('{') });
    const refused = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${app.dayi.mqttPort}`, {
        username: 'x',
        password: 'y',
        reconnectPeriod: 0,
      })
      .then(
        (c) => c.endAsync().then(() => false),
        () => true,
      );
    expect(refused).toBe(true);
    const exposition = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const families = new Set(
      [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
      ),
    );
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dash.panels.length).toBeGreaterThan(5);
    for (const panel of dash.panels) {
      for (const { expr } of panel.targets) {
        const series = [...expr.matchAll(/\b(dayi_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
        expect(series.length, panel.title).toBeGreaterThan(0);
        for (const s of series) expect(families, `${panel.title}: ${s}`).toContain(s);
        for (const [, labels] of expr.matchAll(/by \(([^)]*)\)/g)) {
          for (const label of labels!
            .split(',')
            .map((l) => l.trim())
            .filter((l) => l !== 'le')) {
            expect(exposition, `${panel.title}: label ${label}`).toMatch(new RegExp(`[{,]${label}="`));
          }
        }
      }
    }
  });
});
