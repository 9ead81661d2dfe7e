/**
 * Optional column groups of the uptime report. A group is there only when its analytics are
 * built: a provider says whether its data exists in this store (`available`) and gives exact
 * values per instrument for the period. No provider, no columns: nothing stands in for figures
 * that are not derived (an empty cell is not a zero).
 *
 * Where the analytics of other issues plug in (after their merge), by adding to
 * `UPTIME_COLUMN_PROVIDERS` below:
 * - alerts: `{ id: 'alerts', columns: [{ key: 'alertCount', kind: 'count', label: { 'zh-CN': '告警数', en: 'Alerts' } }] }`,
 *   available when the `alerts` table exists, counting per instrument the alerts opened in
 *   [period.days[0].start, period.endsAt).
 * - bookings: `{ id: 'bookings', columns: [bookedHours (预约机时), externalServiceHours (对外服务机时)] }`
 *   (kind `hours`, values in ms), available when the `bookings` table exists: booked = the overlap
 *   of each booking [start_ms, end_ms) with the period; external service hours as the bookings
 *   analytics define them (running time inside `external` bookings).
 */
import type { CollectorContext } from '../context.ts';
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

/** The providers of this build. Empty until the alerts and bookings analytics land (see above). */
export const UPTIME_COLUMN_PROVIDERS: readonly ReportColumnProvider[] = [];

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
