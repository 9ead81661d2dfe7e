/**
 * Optional column groups of the uptime report. A group is there only when its analytics are
 * built: a provider says whether its data exists in this store (`available`) and gives exact
 * values per instrument for the period. No provider, no columns: nothing stands in for figures
 * that are not derived (an empty cell is not a zero).
 *
 * - alerts: 告警数, the alerts of the instrument opened in [start of `from`, endsAt) (every kind,
 *   whatever their state now), counted in the alerts store: `GET /v1/alerts?instrument=…&from&to`
 *   lists them among the alerts active in the period.
 * - bookings: 预约机时 and 对外服务机时 (ms), exactly `bookedHours` and `externalServiceHours` of
 *   `GET /v1/instruments/{id}/reconciliation` for the same period (query/reconciliation.ts).
 */
import type { CollectorContext } from '../context.ts';
import { bookedTimes } from '../query/reconciliation.ts';
import type { ReportPeriod } from './core/period.ts';
import type { OptionalColumn, OptionalColumnGroup } from './core/uptime.ts';

export interface ReportColumnProvider {
  id: string;
  columns: OptionalColumn[];
  /** Whether the analytics behind these columns exist in this store. */
  available(ctx: CollectorContext): boolean;
  /**
   * Values for the period, per instrument id and column key: ms for `hours` columns, whole
   * numbers for `count`. An instrument left out, or a null value, is an empty cell.
   */
  load(
    ctx: CollectorContext,
    period: ReportPeriod,
    instrumentIds: readonly string[],
  ): ReadonlyMap<string, Readonly<Record<string, number | null>>>;
}

export const ALERTS_PROVIDER: ReportColumnProvider = {
  id: 'alerts',
  columns: [{ key: 'alertCount', kind: 'count', label: { 'zh-CN': '告警数', en: 'Alerts' } }],
  available: (ctx) => tableExists(ctx, 'alerts'),
  load(ctx, period, instrumentIds) {
    const start = period.days[0]?.start ?? period.endsAt;
    const counts = new Map(
      (
        ctx.db
          .prepare(
            `SELECT instrument_id AS id, COUNT(*) AS n FROM alerts WHERE opened_at >= ? AND opened_at < ?
              GROUP BY instrument_id`,
          )
          .all(start, period.endsAt) as { id: string; n: number }[]
      ).map((r) => [r.id, r.n]),
    );
    return new Map(instrumentIds.map((id) => [id, { alertCount: counts.get(id) ?? 0 }]));
  },
};

export const BOOKINGS_PROVIDER: ReportColumnProvider = {
  id: 'bookings',
  columns: [
    { key: 'bookedHours', kind: 'hours', label: { 'zh-CN': '预约机时 (h)', en: 'Booked hours' } },
    {
      key: 'externalServiceHours',
      kind: 'hours',
      label: { 'zh-CN': '对外服务机时 (h)', en: 'External service hours' },
    },
  ],
  available: (ctx) => tableExists(ctx, 'bookings'),
  load(ctx, period, instrumentIds) {
    const times = bookedTimes(ctx, period.from, period.to, instrumentIds);
    return new Map(
      [...times].map(([id, t]) => [
        id,
        { bookedHours: t.bookedMs, externalServiceHours: t.externalServiceMs },
      ]),
    );
  },
};

/** The providers of this build: alert count (issue 10's alerts), booked and external service hours. */
export const UPTIME_COLUMN_PROVIDERS: readonly ReportColumnProvider[] = [ALERTS_PROVIDER, BOOKINGS_PROVIDER];

export function tableExists(ctx: CollectorContext, table: string): boolean {
  return (
    ctx.db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !== undefined
  );
}

export function loadColumnGroups(
  ctx: CollectorContext,
  period: ReportPeriod,
  instrumentIds: readonly string[],
  providers: readonly ReportColumnProvider[],
): OptionalColumnGroup[] {
  return providers
    .filter((p) => p.available(ctx))
    .map((p) => ({ id: p.id, columns: p.columns, values: p.load(ctx, period, instrumentIds) }));
}
