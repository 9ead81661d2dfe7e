import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per collector instance, so several can run in one process (tests, bench). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dayi_' });
  return {
    registry,
    messages: new Counter({
      name: 'dayi_mqtt_messages_total',
      help: 'MQTT messages received on dayi topics, by kind and outcome (accepted, duplicate, rejected, unauthorized)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'dayi_mqtt_rejected_total',
      help: 'MQTT messages rejected, by reason class (invalid_topic, invalid_payload, not_authorized, too_large, future_ts)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    connects: new Counter({
      name: 'dayi_mqtt_connects_total',
      help: 'MQTT CONNECT attempts by result (accepted, bad_credentials, identifier_rejected, not_authorized, throttled, banned)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    rejectedUnstored: new Counter({
      name: 'dayi_mqtt_rejected_unstored_total',
      help: "Refused publishes over their agent's mqtt.rejects.perMinute: counted here, not kept in the rejected table",
      registers: [registry],
    }),
    rejectDisconnects: new Counter({
      name: 'dayi_mqtt_reject_disconnects_total',
      help: 'Clients disconnected for sending refused publishes beyond mqtt.rejects.disconnectAfter',
      registers: [registry],
    }),
    seqRestarts: new Counter({
      name: 'dayi_seq_restarts_total',
      help: 'Agents whose seq started again (a lost outbox), by kind and cause (epoch_changed, seq_reused)',
      labelNames: ['kind', 'cause'] as const,
      registers: [registry],
    }),
    clients: new Gauge({ name: 'dayi_mqtt_clients', help: 'Connected MQTT clients', registers: [registry] }),
    commitBatch: new Histogram({
      name: 'dayi_ingest_commit_batch_size',
      help: 'Messages per ledger transaction (group commit)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'dayi_ingest_commit_seconds',
      help: 'Time to commit one ledger transaction, fsync included',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
