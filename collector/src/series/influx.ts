/**
 * The InfluxDB implementation of the series store: one InfluxQL query over the `telemetry`
 * measurement the shipper writes (`GROUP BY time(every) fill(none)`, aligned to the epoch like the
 * SQLite one). It answers what InfluxDB holds: rows still in the shipper's lag are not there yet.
 */
import { type InfluxClient, InfluxWriteError, quoteIdent, quoteString } from '../influx/client.ts';
import { metricField } from '../influx/lines.ts';
import { type SeriesBucket, type SeriesQuery, type SeriesStore, SeriesUnavailableError } from './types.ts';

export function createInfluxSeries(client: InfluxClient): SeriesStore {
  return {
    kind: 'influx',
    async series(q: SeriesQuery): Promise<SeriesBucket[]> {
      const f = quoteIdent(metricField(q.metric));
      const influxql =
        `SELECT mean(${f}), min(${f}), max(${f}), count(${f}) FROM "telemetry" ` +
        `WHERE "instrument" = ${quoteString(q.instrumentId)} AND time >= ${q.from}ms AND time < ${q.to}ms ` +
        `GROUP BY time(${q.everyMs}ms) fill(none)`;
      let results: Awaited<ReturnType<InfluxClient['query']>>;
      try {
        results = await client.query(influxql);
      } catch (err) {
        if (err instanceof InfluxWriteError) throw new SeriesUnavailableError(err.message);
        throw err;
      }
      const out: SeriesBucket[] = [];
      for (const s of results[0]?.series ?? []) {
        for (const [t, mean, min, max, count] of s.values as [number, number, number, number, number][]) {
          out.push({ t, mean, min, max, count });
        }
      }
      return out;
    },
  };
}
