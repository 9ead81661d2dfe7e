/**
 * What the agent does with profile points at run time. Apart from ./profile.ts (the schemas) so
 * the agent's service process runs without zod (docs/performance.md, "Agent").
 */
import type { FaultCondition, ModbusPoint } from './profile.ts';

/**
 * A profile's points with a config's explicit points applied: a point with the same metric
 * replaces the profile's, others are added.
 */
export function mergePoints(
  profilePoints: readonly ModbusPoint[],
  explicit: readonly ModbusPoint[],
): ModbusPoint[] {
  const byMetric = new Map<string, ModbusPoint>();
  for (const p of profilePoints) byMetric.set(p.metric, p);
  for (const p of explicit) byMetric.set(p.metric, p);
  return [...byMetric.values()];
}

/** Whether a raw value meets a fault condition. */
export function isFault(raw: number, fault: FaultCondition): boolean {
  if (fault.equals !== undefined && raw === fault.equals) return true;
  if (fault.mask !== undefined && Number.isInteger(raw) && (BigInt(raw) & BigInt(fault.mask)) !== 0n)
    return true;
  if (fault.below !== undefined && raw < fault.below) return true;
  if (fault.above !== undefined && raw > fault.above) return true;
  return false;
}
