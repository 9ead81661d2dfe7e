/**
 * Schema migrations of the SQLite store, applied in order and recorded in `schema_migrations`.
 * Never edit a released migration: add the next one.
 *
 * Tables, by stage of the flow:
 * - `messages`: the ledger. Every accepted MQTT message, as received, with its event time `ts`.
 *   Unique (instrument_id, kind, seq) drops duplicates after a replay (and finds an instrument's
 *   messages). Everything else is derived
 *   from it and can be rebuilt (`rederive`).
 * - `rejected`: payloads that failed validation or authorization, with the reason.
 * - `observations`: one row per ledger message that tells the state (state messages, telemetry with
 *   `state`, telemetry classified with the registry thresholds), clustered by (instrument, ts).
 * - `instrument_status`: latest facts per instrument (last seen, last powered, online, agent).
 * - `daily_usage` + `dirty_days`: per instrument and calendar day, the derived hours; a late message
 *   marks only the days it touches dirty, and they are recomputed from `observations`.
 * - `instruments`: the registry (seeded from config, edited by the API).
 * - `report_keys`, `reports_issued`: the Ed25519 keys that sign auditors' reports, and a record of
 *   every report signed (digest and signature, not the content): collector/src/reports/.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'ledger, registry, derivations',
    sql: `
CREATE TABLE instruments (
  id TEXT PRIMARY KEY,
  name TEXT,
  org TEXT,
  category TEXT,
  quota_hours REAL NOT NULL DEFAULT 1400,
  idle_days INTEGER,
  thresholds TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  instrument_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  seq INTEGER,
  ts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  client_id TEXT,
  payload TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_dedupe ON messages (instrument_id, kind, seq) WHERE seq IS NOT NULL;
CREATE INDEX messages_by_ts ON messages (instrument_id, ts);
CREATE TABLE rejected (
  id INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  client_id TEXT,
  username TEXT,
  topic TEXT NOT NULL,
  reason TEXT NOT NULL,
  payload BLOB
);
CREATE TABLE observations (
  instrument_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  state TEXT NOT NULL,
  message_id INTEGER NOT NULL
);
CREATE INDEX observations_by_ts ON observations (instrument_id, ts);
CREATE TABLE instrument_status (
  instrument_id TEXT PRIMARY KEY,
  first_seen INTEGER,
  last_seen INTEGER,
  last_received_at INTEGER,
  last_powered_at INTEGER,
  last_running_at INTEGER,
  online INTEGER,
  status_ts INTEGER,
  agent_id TEXT,
  agent_version TEXT,
  inputs TEXT,
  -- latest state message by event time: gates the retained flag and re-seeds the retained store
  state_ts INTEGER,
  state_message_id INTEGER,
  -- status is about the link, so the latest status is the last one to ARRIVE (a will carries the
  -- stale ts of its CONNECT); ties broken by ts
  status_received_at INTEGER,
  status_message_id INTEGER
);
CREATE TABLE daily_usage (
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  span_ms INTEGER NOT NULL,
  computed_at INTEGER NOT NULL,
  PRIMARY KEY (instrument_id, date)
);
CREATE TABLE dirty_days (
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL,
  PRIMARY KEY (instrument_id, date)
);
`,
  },
  {
    version: 2,
    name: 'daily tail run, derive settings',
    // The state and start of the day's last run when it reaches the day's end (NULL state: it does
    // not). stateSince walks back over whole days with these instead of reading every observation.
    sql: `
ALTER TABLE daily_usage ADD COLUMN tail_state TEXT;
ALTER TABLE daily_usage ADD COLUMN tail_start INTEGER;
-- The config values the derived tables were computed with (timezone, offlineAfter): when they
-- change, everything derived is rebuilt from the ledger at start (derive/settings.ts).
CREATE TABLE derive_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`,
  },
  {
    version: 3,
    name: 'fewer b-trees per ingested message, dirty days with their mark time',
    // Every B-tree a message touches costs WAL pages at each commit. messages_by_ts was never read;
    // the dedupe index without its WHERE serves "messages of an instrument" too (NULL seqs stay
    // distinct, so status messages are never dropped as duplicates); observations clustered on
    // their only access path (instrument, ts) are one B-tree instead of a table and an index.
    sql: `
DROP INDEX messages_by_ts;
DROP INDEX messages_dedupe;
CREATE UNIQUE INDEX messages_dedupe ON messages (instrument_id, kind, seq);
CREATE TABLE observations_v3 (
  instrument_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (instrument_id, ts, message_id)
) WITHOUT ROWID;
INSERT INTO observations_v3 (instrument_id, ts, message_id, state)
  SELECT instrument_id, ts, message_id, state FROM observations;
DROP TABLE observations;
ALTER TABLE observations_v3 RENAME TO observations;
-- When a day was last marked: the background recompute leaves a day alone while a backfill is
-- still writing to it, instead of re-reading the whole day every few seconds.
ALTER TABLE dirty_days ADD COLUMN marked_at INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 10,
    name: 'report signing keys, issued reports, daily usage clustered by instrument and day',
    // The active key is the newest one not retired; retired keys stay so that older reports still
    // verify. The private key is PKCS#8 DER and never leaves the store (reports/keys.ts).
    // daily_usage is written a day at a time for every instrument, and read an instrument at a
    // time (/usage) or for a whole fleet over a period (reports): clustered on its primary key,
    // those reads are one range each instead of a table lookup per row in insertion order
    // (a yearly report of 16,000 instruments: 116 s before, 6 s after; docs/performance.md).
    sql: `
CREATE TABLE daily_usage_v10 (
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  span_ms INTEGER NOT NULL,
  computed_at INTEGER NOT NULL,
  tail_state TEXT,
  tail_start INTEGER,
  PRIMARY KEY (instrument_id, date)
) WITHOUT ROWID;
INSERT INTO daily_usage_v10 (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at,
  tail_state, tail_start)
  SELECT instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at, tail_state, tail_start
    FROM daily_usage;
DROP TABLE daily_usage;
ALTER TABLE daily_usage_v10 RENAME TO daily_usage;
CREATE TABLE report_keys (
  id TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,
  public_key TEXT NOT NULL,
  private_key BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);
CREATE TABLE reports_issued (
  sha256 TEXT PRIMARY KEY,
  report_id TEXT NOT NULL,
  key_id TEXT NOT NULL REFERENCES report_keys (id),
  signature TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  file_name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  params TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  issued_to TEXT
);
`,
  },
];
