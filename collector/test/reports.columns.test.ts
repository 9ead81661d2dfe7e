import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, buildApi, submit } from './helpers/e2e-api.ts';
import { tempDir } from './helpers/e2e-collector.ts';
import { csvSection, parseCsv, pdfText, readXlsx } from './helpers/report-files.ts';

/**
 * The uptime report's columns from issue 10's analytics (alert count, booked and external service
 * hours): wired in by default, and carrying exactly what `/v1/alerts` and
 * `/v1/instruments/{id}/reconciliation` give for the same period, in every format and language.
 */
const INSTRUMENTS = [
  { id: 'ZJ-NMR-0001', name: '600 MHz 核磁共振波谱仪', org: '浙江大学', category: 'NMR', quotaHours: 1400 },
  { id: 'ZJ-MS-0002', name: '液质联用仪', org: '浙江大学', category: 'MS', quotaHours: 800 },
  { id: 'NB-SEM-0001', name: '扫描电镜', org: '宁波大学', category: 'SEM', quotaHours: 1400 },
];
const FROM = '2026-11-01';
const TO = '2026-11-30';
const t = (iso: string) => Date.parse(iso);

describe('uptime report: alert count, booked and external service hours', () => {
  let app: FastifyInstance;
  let clock = t('2026-11-03T08:00:00+08:00');
  const tmp = tempDir();
  beforeAll(async () => {
    app = await buildApi({ instruments: INSTRUMENTS }, () => clock);
    // The detection pass is stopped: the alerts below are the only ones, whatever it would find.
    app.dayi.alerts.close();
    // ZJ-NMR-0001 runs 09:00–12:00 on 3 November; NB-SEM-0001 14:00–15:00 on 20 November.
    const run = async (id: string, from: string, minutes: number) => {
      for (let i = 0; i <= minutes; i++) {
        const ts = t(from) + i * 60_000;
        await submit(app, id, 'telemetry', {
          ts,
          seq: Math.floor(ts / 60_000),
          metrics: { power_w: 500 },
          state: i === minutes ? 'off' : 'running',
        });
      }
    };
    clock = t('2026-11-21T12:00:00+08:00');
    await run('ZJ-NMR-0001', '2026-11-03T09:00:00+08:00', 180);
    await run('NB-SEM-0001', '2026-11-20T14:00:00+08:00', 60);
    const bookings = await app.inject({
      method: 'PUT',
      url: '/v1/bookings',
      headers: { ...auth('platform'), 'content-type': 'application/json' },
      payload: JSON.stringify([
        // external 09:00–11:00 (2 h running inside), internal 11:30–13:00 (30 min running inside)
        {
          id: 'b1',
          instrumentId: 'ZJ-NMR-0001',
          start: '2026-11-03T09:00:00+08:00',
          end: '2026-11-03T11:00:00+08:00',
          user: 'li',
          org: '宁波大学',
          external: true,
        },
        {
          id: 'b2',
          instrumentId: 'ZJ-NMR-0001',
          start: '2026-11-03T11:30:00+08:00',
          end: '2026-11-03T13:00:00+08:00',
          user: 'wang',
          org: '浙江大学',
        },
        // Across the period's start: only its part in November is booked time of the period.
        {
          id: 'b3',
          instrumentId: 'ZJ-MS-0002',
          start: '2026-10-31T22:00:00+08:00',
          end: '2026-11-01T02:00:00+08:00',
          external: true,
        },
        // Outside the period.
        {
          id: 'b4',
          instrumentId: 'NB-SEM-0001',
          start: '2026-12-02T09:00:00+08:00',
          end: '2026-12-02T10:00:00+08:00',
        },
      ]),
    });
    expect(bookings.statusCode).toBe(200);
    const report = (id: string, text: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/instruments/${id}/reports`,
        headers: { ...auth('manager'), 'content-type': 'application/json' },
        payload: JSON.stringify({ text }),
      });
    const resolve = async (id: string) => {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/alerts/${id}/resolve`,
        headers: { ...auth('manager'), 'content-type': 'application/json' },
        payload: JSON.stringify({ note: '已处理' }),
      });
      expect(res.statusCode).toBe(200);
    };
    // ZJ-MS-0002: one opened in October and still open (active in November, not opened in it).
    // ZJ-NMR-0001: two opened in November (the first resolved before the second).
    // NB-SEM-0001: one in November (resolved), one opened after the period.
    clock = t('2026-10-20T10:00:00+08:00');
    expect((await report('ZJ-MS-0002', '漏液')).statusCode).toBeLessThan(300);
    clock = t('2026-11-10T10:00:00+08:00');
    const first = (await report('ZJ-NMR-0001', '真空泵异响')).json();
    expect(first.id).toMatch(/^al-/);
    await resolve(first.id);
    clock = t('2026-11-12T10:00:00+08:00');
    expect((await report('ZJ-NMR-0001', '样品管卡住')).statusCode).toBeLessThan(300);
    clock = t('2026-11-25T10:00:00+08:00');
    const sem = (await report('NB-SEM-0001', 'beam unstable')).json();
    await resolve(sem.id);
    clock = t('2026-12-03T10:00:00+08:00');
    expect((await report('NB-SEM-0001', 'again')).statusCode).toBeLessThan(300);
    clock = t('2026-12-05T12:00:00+08:00');
  });
  afterAll(async () => {
    await app.close();
    tmp.remove();
  });
  const get = (url: string, role: 'auditor' | 'manager' = 'manager') =>
    app.inject({ method: 'GET', url, headers: auth(role) });

  /** What the API says for each instrument: the report must carry exactly this. */
  async function expected() {
    const out = new Map<string, { alerts: number; booked: number; external: number }>();
    const start = t(`${FROM}T00:00:00+08:00`);
    for (const { id } of INSTRUMENTS) {
      const rec = (await get(`/v1/instruments/${id}/reconciliation?from=${FROM}&to=${TO}`)).json();
      const alerts = (await get(`/v1/alerts?instrument=${id}&from=${FROM}&to=${TO}&limit=100`)).json();
      // /v1/alerts lists those active in the period; the report counts those opened in it.
      const opened = alerts.items.filter((a: { openedAt: string }) => t(a.openedAt) >= start);
      out.set(id, { alerts: opened.length, booked: rec.bookedHours, external: rec.externalServiceHours });
    }
    return out;
  }

  it('the API gives what the cases above make (so the comparisons below are not of zeros)', async () => {
    const active = (await get(`/v1/alerts?instrument=ZJ-MS-0002&from=${FROM}&to=${TO}`)).json();
    expect(active.items).toHaveLength(1);
    expect(Object.fromEntries(await expected())).toEqual({
      'ZJ-NMR-0001': { alerts: 2, booked: 3.5, external: 2 },
      'ZJ-MS-0002': { alerts: 0, booked: 2, external: 0 },
      'NB-SEM-0001': { alerts: 1, booked: 0, external: 0 },
    });
  });

  for (const lang of ['en', 'zh-CN'] as const) {
    it(`CSV (${lang}): the columns per instrument and the totals per org equal the API`, async () => {
      const res = await get(`/v1/reports/uptime?from=${FROM}&to=${TO}&format=csv&lang=${lang}`, 'auditor');
      expect(res.statusCode).toBe(200);
      const records = parseCsv(res.rawPayload);
      const [header, ...rows] = csvSection(records, lang === 'en' ? 'Instruments' : '仪器');
      const labels =
        lang === 'en'
          ? ['Alerts', 'Booked hours', 'External service hours']
          : ['告警数', '预约机时 (h)', '对外服务机时 (h)'];
      const cols = labels.map((l) => header!.indexOf(l));
      expect(
        cols.every((c) => c > 0),
        `${header}`,
      ).toBe(true);
      const want = await expected();
      for (const row of rows) {
        const w = want.get(row[0]!)!;
        expect([row[0], ...cols.map((c) => Number(row[c]))]).toEqual([
          row[0],
          w.alerts,
          w.booked,
          w.external,
        ]);
      }
      expect(rows).toHaveLength(3);
      const [tHeader, ...totals] = csvSection(records, lang === 'en' ? 'Totals by org' : '按管理单位汇总');
      const tCols = labels.map((l) => tHeader!.indexOf(l));
      const sum = (ids: string[], k: 'alerts' | 'booked' | 'external') =>
        ids.reduce((s, id) => s + want.get(id)![k], 0);
      const orgIds = {
        浙江大学: ['ZJ-NMR-0001', 'ZJ-MS-0002'],
        宁波大学: ['NB-SEM-0001'],
        [lang === 'en' ? 'Total' : '合计']: INSTRUMENTS.map((i) => i.id),
      };
      for (const [org, ids] of Object.entries(orgIds)) {
        const row = totals.find((r) => r[0] === org);
        expect(row, org).toBeDefined();
        expect(tCols.map((c) => Number(row![c]))).toEqual([
          sum(ids, 'alerts'),
          sum(ids, 'booked'),
          sum(ids, 'external'),
        ]);
      }
    });
  }

  it('XLSX and PDF carry the same columns and values', async () => {
    const want = await expected();
    const xlsx = await get(`/v1/reports/uptime?from=${FROM}&to=${TO}&format=xlsx&lang=en`, 'auditor');
    const sheet = (await readXlsx(xlsx.rawPayload)).get('Instruments')!;
    const header = sheet[0] as string[];
    const cols = ['Alerts', 'Booked hours', 'External service hours'].map((l) => header.indexOf(l));
    expect(cols.every((c) => c > 0)).toBe(true);
    for (const row of sheet.slice(1)) {
      const w = want.get(String(row[0]));
      if (!w) continue;
      expect(cols.map((c) => Number(row[c]))).toEqual([w.alerts, w.booked, w.external]);
    }
    expect(sheet.slice(1).filter((r) => want.has(String(r[0])))).toHaveLength(3);
    const pdf = await get(`/v1/reports/uptime?from=${FROM}&to=${TO}&format=pdf&lang=zh-CN`, 'auditor');
    const file = join(tmp.dir, 'columns.pdf');
    writeFileSync(file, pdf.rawPayload);
    const text = pdfText(file);
    expect(text).toMatch(/告警数/);
    expect(text).toMatch(/预约机时/);
    expect(text).toMatch(/对外服务机时/);
    const line = text.split('\n').find((l) => l.includes('ZJ-NMR-0001'))!;
    expect(line).toMatch(/\b3\.50\b/);
    expect(line).toMatch(/\b2\.00\b/);
  });
});
