/**
 * What the collector feeds from its SQLite store after commit, off the ingest path: the series
 * store of the read route, and, when `influx:` is configured, the InfluxDB shipper (whose series
 * store then answers from InfluxDB).
 */
import type { CollectorContext } from './context.ts';
import { stmt } from './derive/io/store.ts';
import { createInfluxClient } from './influx/client.ts';
import { type InfluxExporter, startInfluxExporter } from './influx/index.ts';
import { CURSORS } from './influx/shipper.ts';
import type { Ingest } from './ingest/index.ts';
import { createInfluxSeries } from './series/influx.ts';
import { createSqliteSeries } from './series/sqlite.ts';
import type { SeriesStore } from './series/types.ts';

export interface Exports {
  series: SeriesStore;
  influx: InfluxExporter | null;
  close(): Promise<void>;
}

export function startExports(ctx: CollectorContext, ingest?: Pick<Ingest, 'onCommitted'>): Exports {
  const { config, db } = ctx;
  if (config.influx) {
    const influx = startInfluxExporter(ctx, ingest);
    const client = createInfluxClient(config.influx);
    return {
      series: createInfluxSeries(client),
      influx,
      async close() {
        await influx.close();
        await client.close();
      },
    };
  }
  const series = createSqliteSeries(ctx);
  // Only the InfluxDB shipper reads usage_changes: without it the table is kept empty, and its
  // cursor is dropped so that a later start with InfluxDB queues every derived day again.
  const forgetUsageChanges = () => {
    try {
      stmt(db, 'DELETE FROM usage_changes').run();
      stmt(db, 'DELETE FROM export_cursors WHERE name = ?').run(CURSORS.usage);
    } catch (err) {
      ctx.log.warn({ err }, 'could not empty usage_changes; tried again in an hour');
    }
  };
  forgetUsageChanges();
  const timer = setInterval(forgetUsageChanges, 3_600_000);
  timer.unref();
  return {
    series,
    influx: null,
    async close() {
      clearInterval(timer);
      series.close();
    },
  };
}
