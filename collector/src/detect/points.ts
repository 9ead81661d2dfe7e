import type { TopicKind, TopicPayloads } from '@dayi/protocols';
import { dataGapEventFinding } from './data-gap.ts';
import { impossibleFinding } from './sensor-stuck.ts';
import { isEnabled } from './settings.ts';
import type { AnomalySettings, Finding } from './types.ts';
import { faultEventFinding } from './vendor-fault.ts';

/**
 * Findings one message makes on its own, whatever came before it: the agent's `vendor_fault` and
 * `data_gap` events, and impossible telemetry readings. Order and lateness do not matter.
 */
export function pointFindings<K extends TopicKind>(
  kind: K,
  payload: TopicPayloads[K],
  settings: AnomalySettings,
): Finding[] {
  if (kind === 'event') {
    const e = payload as TopicPayloads['event'];
    if (e.type === 'vendor_fault' && isEnabled(settings, 'vendor_fault')) {
      return [faultEventFinding(e.ts, e.severity, e.detail)];
    }
    if (e.type === 'data_gap' && isEnabled(settings, 'data_gap'))
      return [dataGapEventFinding(e.ts, e.detail)];
    return [];
  }
  if (kind === 'telemetry' && isEnabled(settings, 'sensor_stuck')) {
    const t = payload as TopicPayloads['telemetry'];
    const f = impossibleFinding(t.ts, t.metrics);
    return f ? [f] : [];
  }
  return [];
}
