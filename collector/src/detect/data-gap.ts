import type { Finding } from './types.ts';

/**
 * data_gap: data the collector will never get. Today's evidence is the agent's `data_gap` event
 * (its outbox was full and dropped the oldest telemetry: `detail.dropped`, `from`, `to`); other
 * evidence (a seq restart stored by ingest, say) comes in through `dataGapFinding` too, so every
 * source makes the same alert. A data gap is a point no later data can clear: it stays until a
 * person resolves it.
 */
export interface DataGapEvidence {
  /** When the gap was noticed (the event's ts): the alert's time. */
  at: number;
  /** What noticed it: `agent_outbox` for the agent's event, or another source's name. */
  source: string;
  /** The lost span, when known. */
  fromAt?: number | null;
  toAt?: number | null;
  /** Anything else worth showing (counts of dropped messages, the seq range, …). */
  detail?: Record<string, unknown>;
}

export function dataGapFinding(e: DataGapEvidence): Finding {
  return {
    type: 'data_gap',
    start: e.at,
    end: e.at,
    sticky: true,
    severity: 'warning',
    detail: {
      source: e.source,
      ...(e.fromAt != null ? { fromAt: e.fromAt } : {}),
      ...(e.toAt != null ? { toAt: e.toAt } : {}),
      ...(e.detail ?? {}),
    },
  };
}

/** The agent's `data_gap` event (agent/src/outbox.ts: detail { reason, dropped, from, to }). */
export function dataGapEventFinding(ts: number, detail: Record<string, unknown> | undefined): Finding {
  const { from, to, ...rest } = detail ?? {};
  return dataGapFinding({
    at: ts,
    source: 'agent_event',
    fromAt: typeof from === 'number' ? from : null,
    toAt: typeof to === 'number' ? to : null,
    detail: rest,
  });
}
