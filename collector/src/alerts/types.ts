/** Alert kinds (SPEC `GET /v1/alerts`); anomaly alerts carry the detector's type. */
export const ALERT_KINDS = ['offline', 'anomaly', 'idle', 'reported'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** An alert as the store keeps it; times are ms since epoch (the API formats them). */
export interface Alert {
  id: string;
  instrumentId: string;
  org: string | null;
  kind: AlertKind;
  /** The anomaly type for kind `anomaly`; otherwise the kind itself. */
  type: string;
  severity: AlertSeverity;
  status: AlertStatus;
  openedAt: number;
  lastSeenAt: number;
  count: number;
  closedAt: number | null;
  detail: Record<string, unknown>;
}

export const ALERT_TRANSITIONS = ['opened', 'repeated', 'acknowledged', 'resolved', 'reopened'] as const;
export type AlertTransition = (typeof ALERT_TRANSITIONS)[number];

/** One change of one alert: what notification channels and the InfluxDB shipper consume. */
export interface AlertChange {
  alert: Alert;
  transition: AlertTransition;
  /** When the change happened (event time for detector changes, wall clock for people's). */
  at: number;
  /** Who made it: an API key name for people, null for the detectors. */
  by: string | null;
  note: string | null;
}
