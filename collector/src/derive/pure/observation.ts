import { classifySignal, type State, type TopicKind, type TopicPayloads } from '@dayi/protocols';
import type { Thresholds } from '../../config.ts';

/**
 * What one accepted message says about the instrument's state, or null when it says nothing:
 * a `state` message, telemetry with `state`, or telemetry whose metrics carry the registry's
 * signal (classified with SPEC's rule). Status and events are not state evidence.
 */
export function observationOf<K extends TopicKind>(
  kind: K,
  payload: TopicPayloads[K],
  thresholds: Thresholds | undefined,
): State | null {
  if (kind === 'state') return (payload as TopicPayloads['state']).state;
  if (kind !== 'telemetry') return null;
  const t = payload as TopicPayloads['telemetry'];
  if (t.state) return t.state;
  if (!thresholds) return null;
  const value = t.metrics[thresholds.signal];
  return value === undefined ? null : classifySignal(value, thresholds);
}
