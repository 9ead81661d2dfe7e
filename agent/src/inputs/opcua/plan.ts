/**
 * What one opcua input reads, from its config and its profile: pure, so the merge rules are
 * tested without a server.
 */
import type { State } from '@dayi/protocols';
import type { OpcuaNodeConfig, OpcuaProfile } from '@dayi/protocols/opcua/profile.ts';
import type { OpcuaInputConfig } from './schema.ts';

export type NodeAddress =
  | { nodeId: string; browsePath?: undefined }
  | { browsePath: string; nodeId?: undefined };

export interface MetricItem {
  address: NodeAddress;
  metric: string;
  scale: number;
  offset: number;
  map: Record<string, number> | undefined;
  optional: boolean;
}

export interface StateItem {
  address: NodeAddress;
  map: Record<string, State>;
  optional: boolean;
  dominant: boolean;
}

export interface ReadPlan {
  aliases: Record<string, string>;
  /** Where to look for the single machine/device when no `root` is configured. */
  rootSearch: string | undefined;
  metrics: MetricItem[];
  states: StateItem[];
}

function addressOf(n: { nodeId?: string | undefined; browsePath?: string | undefined }): NodeAddress {
  if (n.nodeId !== undefined) return { nodeId: n.nodeId };
  if (n.browsePath !== undefined) return { browsePath: n.browsePath };
  throw new Error('node without nodeId or browsePath');
}

function metricItem(n: OpcuaNodeConfig): MetricItem {
  return {
    address: addressOf(n),
    metric: n.metric,
    scale: n.scale,
    offset: n.offset,
    map: n.map,
    optional: n.optional,
  };
}

/**
 * Profile nodes first, then the config's; a config node with the same metric replaces the
 * profile's. A config `state` with a node replaces the profile's state machines; a config `state`
 * with only a `map` is merged into each of the profile's maps (its entries win).
 */
export function buildPlan(config: OpcuaInputConfig, profile?: OpcuaProfile): ReadPlan {
  const own = config.nodes.map(metricItem);
  const ownMetrics = new Set(own.map((m) => m.metric));
  const metrics = [
    ...(profile?.nodes ?? []).map(metricItem).filter((m) => !ownMetrics.has(m.metric)),
    ...own,
  ];

  let states: StateItem[] = (profile?.states ?? []).map((s) => ({
    address: addressOf(s),
    map: { ...s.map },
    optional: s.optional,
    dominant: s.dominant,
  }));
  const st = config.state;
  if (st) {
    if (st.nodeId !== undefined || st.browsePath !== undefined)
      states = [{ address: addressOf(st), map: { ...st.map }, optional: false, dominant: false }];
    else states = states.map((s) => ({ ...s, map: { ...s.map, ...st.map } }));
  }
  return {
    aliases: { ...(profile?.namespaces ?? {}), ...config.namespaces },
    rootSearch: config.root === undefined ? profile?.rootSearch : undefined,
    metrics,
    states,
  };
}

export function describeAddress(a: NodeAddress): Record<string, string> {
  return a.nodeId !== undefined ? { nodeId: a.nodeId } : { browsePath: a.browsePath };
}

/** Backoff before the next attempt: minDelay doubling up to maxDelay, ±20 % jitter. */
export function reconnectDelay(
  attempt: number,
  minDelay: number,
  maxDelay: number,
  random = Math.random,
): number {
  const base = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}
