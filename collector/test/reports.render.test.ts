import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportLayout } from '../src/reports/core/layout.ts';
import { reportPeriod } from '../src/reports/core/period.ts';
import { loadUptimeFacts, loadUptimeFactsYielding, SLICE } from '../src/reports/data.ts';
import { makeUptimeReport } from '../src/reports/index.ts';
import { renderReport } from '../src/reports/render.ts';
import { buildApi, submit } from './helpers/e2e-api.ts';
import { readXlsx } from './helpers/report-files.ts';

/** Large reports are read in slices and written on a worker thread: the same facts, the same bytes. */
const NOW = Date.parse('2026-12-05T12:00:00+08:00');
const N = SLICE * 2 + 7;
const INSTRUMENTS = Array.from({ length: N }, (_, i) => ({
  id: `ZJ-${String(i).padStart(5, '0')}`,
  name: `仪器 ${i}`,
  org: i % 3 === 0 ? '浙江大学' : '宁波大学',
  category: 'NMR',
  quotaHours: 1400,
}));

describe('uptime report: slices and the writer thread', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApi({ instruments: INSTRUMENTS }, () => NOW);
    app.dayi.alerts.close();
    // A few instruments in each slice ran, one of them the last of a slice.
    for (const i of [0, SLICE - 1, SLICE, SLICE + 3, N - 1]) {
      const id = INSTRUMENTS[i]!.id;
      const from = Date.parse('2026-11-03T09:00:00+08:00') + i * 60_000;
      for (let m = 0; m <= 30; m++) {
        await submit(app, id, 'telemetry', {
          ts: from + m * 60_000,
          seq: m,
          metrics: { power_w: 500 },
          state: m === 30 ? 'off' : 'running',
        });
      }
    }
  });
  afterAll(async () => {
    await app.close();
  });

  it('the facts read in slices equal those read at once', async () => {
    const ctx = app.dayi.ctx;
    const period = reportPeriod('2026-11-01', '2026-11-30', {
      timezone: ctx.config.timezone,
      offlineAfterMs: ctx.config.offlineAfter,
      now: NOW,
    });
    const progress: number[] = [];
    const sliced = await loadUptimeFactsYielding(ctx, period, null, (done) => progress.push(done));
    expect(sliced).toEqual(loadUptimeFacts(ctx, period, null));
    expect(sliced).toHaveLength(N);
    expect(sliced.filter((f) => f.runningMs > 0).map((f) => f.id)).toHaveLength(5);
    expect(progress).toEqual([SLICE, 2 * SLICE, N]);
  });

  it('XLSX and PDF written on the worker thread are those of the main thread (PDF byte for byte)', async () => {
    const ctx = app.dayi.ctx;
    const made = await makeUptimeReport(ctx, {
      from: '2026-11-01',
      to: '2026-11-30',
      format: 'csv',
      lang: 'zh-CN',
    });
    const layout = reportLayout(made.report);
    const meta = { reportId: 'r-1', keyId: 'k-1', generatedAt: new Date(NOW), subject: 'test' };
    for (const format of ['xlsx', 'pdf'] as const) {
      const main = await renderReport(format, layout, meta, { thread: 'main' });
      const worker = await renderReport(format, layout, meta, { thread: 'worker' });
      expect(worker.length, format).toBeGreaterThan(1000);
      // XLSX zips carry the time they were written: the same workbook, cell for cell.
      if (format === 'xlsx') expect(await readXlsx(worker)).toEqual(await readXlsx(main));
      else expect(worker.equals(main), format).toBe(true);
    }
  });
});
