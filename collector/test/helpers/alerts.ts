import type { Alert, AlertChange, AlertTransition } from '../../src/alerts/types.ts';

/** AlertChange values as the alert store would hand them to the notifier's sink. */
export function alertChange(
  transition: AlertTransition,
  at: number,
  alert: Partial<Alert> = {},
  extra: Partial<Pick<AlertChange, 'by' | 'note'>> = {},
): AlertChange {
  const a: Alert = {
    id: 'al-1',
    instrumentId: 'ZJ-NMR-0001',
    org: 'Zhejiang University',
    kind: 'offline',
    type: 'offline',
    severity: 'warning',
    status: transition === 'resolved' ? 'resolved' : transition === 'acknowledged' ? 'acknowledged' : 'open',
    openedAt: at,
    lastSeenAt: at,
    count: 1,
    closedAt: transition === 'resolved' ? at : null,
    detail: {},
    ...alert,
  };
  return { alert: a, transition, at, by: extra.by ?? null, note: extra.note ?? null };
}
