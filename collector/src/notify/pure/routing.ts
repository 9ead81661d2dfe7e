/**
 * Which channels hear about a change: pure, decided inside the alert store's transaction.
 *
 * The rule: every route whose `match` accepts the alert (each key given must list the alert's
 * value) contributes its channels; a channel is told once per change even when several routes
 * name it. A route notifies the transitions it lists (default opened, reopened, resolved).
 * `repeated` (the same alert seen again while open) never notifies by itself: a route with
 * `repeatEvery` sends a reminder for it when its last notification of that alert on that channel
 * is at least that old. The weekly digest goes to routes that accept kind `idle` and the org.
 */
import type { Alert, AlertChange } from '../../alerts/types.ts';
import type { RouteConfig } from './config.ts';

export interface RouteTarget {
  channel: string;
  /** Set for a reminder of a repeat: only when the last notification is at least this old. */
  repeatEvery: number | null;
}

function accepts(route: RouteConfig, alert: Pick<Alert, 'kind' | 'org' | 'severity' | 'type'>): boolean {
  const m = route.match;
  if (m.kind && !m.kind.includes(alert.kind)) return false;
  if (m.org && (alert.org === null || !m.org.includes(alert.org))) return false;
  if (m.severity && !m.severity.includes(alert.severity)) return false;
  if (m.type && !m.type.includes(alert.type)) return false;
  return true;
}

/** The channels `change` goes to, each once (the smallest repeatEvery wins for a repeat). */
export function routeChange(change: AlertChange, routes: readonly RouteConfig[]): RouteTarget[] {
  const out = new Map<string, RouteTarget>();
  for (const route of routes) {
    if (!accepts(route, change.alert)) continue;
    let repeatEvery: number | null = null;
    if (change.transition === 'repeated') {
      if (route.repeatEvery === undefined) continue;
      repeatEvery = route.repeatEvery;
    } else if (!(route.transitions as readonly string[]).includes(change.transition)) {
      continue;
    }
    for (const channel of route.channels) {
      const before = out.get(channel);
      if (!before) out.set(channel, { channel, repeatEvery });
      else if (before.repeatEvery !== null && (repeatEvery === null || repeatEvery < before.repeatEvery)) {
        before.repeatEvery = repeatEvery;
      }
    }
  }
  return [...out.values()];
}

/** The channels the weekly idle digest of `org` goes to. */
export function routeDigest(org: string | null, routes: readonly RouteConfig[]): string[] {
  const out = new Set<string>();
  for (const route of routes) {
    const m = route.match;
    if (m.kind && !m.kind.includes('idle')) continue;
    if (m.org && (org === null || !m.org.includes(org))) continue;
    for (const c of route.channels) out.add(c);
  }
  return [...out];
}
