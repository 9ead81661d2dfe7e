import type { Alert, AlertTransition } from '../../alerts/types.ts';

/**
 * What one queued delivery says, stored as JSON in `notify_deliveries.payload` when it is queued
 * (inside the alert's transaction), so that every retry renders exactly the same message.
 */
export interface InstrumentRef {
  id: string;
  /** From the registry (`instruments.name`) when the change was queued. */
  name: string | null;
  org: string | null;
}

export interface AlertEvent {
  type: 'alert';
  alert: Alert;
  transition: AlertTransition;
  at: number;
  by: string | null;
  note: string | null;
  instrument: InstrumentRef;
}

export interface DigestItem {
  id: string;
  name: string | null;
  idleDays: number;
  lastPoweredAt: number | null;
}

export interface DigestEvent {
  type: 'digest';
  org: string | null;
  /** The scheduled instant this digest belongs to. */
  slot: number;
  items: DigestItem[];
  /** Registered instruments of the org that never sent anything. */
  neverReported: number;
  /** The idle threshold of the collector (config `idleDays`), for the title. */
  idleDays: number;
}

export type NotifyEvent = AlertEvent | DigestEvent;
