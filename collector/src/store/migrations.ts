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
 * - `seq_restarts` (4): an agent whose seq started again (lost outbox, new epoch): read as `data_gap`.
 * - `seq_epochs` (4): the latest agent epoch per instrument and kind, to tell a new one.
 * - `report_keys`, `reports_issued`: the Ed25519 keys that sign auditors' reports, and a record of
 *   every report signed (digest and signature, not the content): collector/src/reports/.
 * - `bookings` (7): the platform's bookings, for booked-versus-actual reconciliation.
 * - `usage_month`, `usage_month_cum` (7): `daily_usage` rolled up by month, kept by triggers, so
 *   that period sums over a whole fleet read a few rows per instrument (query/period.ts).
 * - `notify_deliveries`, `notify_digest_runs` (7): the durable queue of notifications.
 * - `alerts`, `alert_episodes`, `alert_events`: alerts (records people act on, never rebuilt), the
 *   detector episodes each one gathered, and every change, append-only (migration 8).
 * - `detect_state`, `detect_days`, `detect_meta`, `collector_runs`: the detectors' state per
 *   instrument, their midnight checkpoints and daily histograms, the detection pass's position.
 * - `api_keys`, `agent_credentials` (9): API keys and agent MQTT credentials made with the CLI or
 *   the API instead of the YAML: only a SHA-256 digest of each key and a scrypt hash of each
 *   password; revoked rows stay (revoked_at) so the list shows what was revoked when.
 * - `usage_group_day`, `usage_group_month`, `usage_gaps` (10): daily_usage rolled up per org and
 *   category by day and by month, and each instrument's long unpowered runs, kept by triggers:
 *   fleet utilisation and the idle trend.
 */
/**
 * Builds migration 10's rollups from daily_usage as it stands (the migration runs it once; a bulk
 * load that drops the triggers runs it again, as bench/api does).
 */
export const FLEET_ROLLUP_BACKFILL = `
INSERT INTO usage_group_day (dim, date, grp, powered_ms, running_ms, covered_ms)
  SELECT 'org', d.date, COALESCE(i.org, ''), SUM(d.powered_ms), SUM(d.running_ms), SUM(d.covered_ms)
    FROM daily_usage d LEFT JOIN instruments i ON i.id = d.instrument_id GROUP BY 2, 3;
INSERT INTO usage_group_day (dim, date, grp, powered_ms, running_ms, covered_ms)
  SELECT 'category', d.date, COALESCE(i.category, ''), SUM(d.powered_ms), SUM(d.running_ms), SUM(d.covered_ms)
    FROM daily_usage d LEFT JOIN instruments i ON i.id = d.instrument_id GROUP BY 2, 3;
INSERT INTO usage_group_month (dim, month, grp, powered_ms, running_ms, covered_ms)
  SELECT dim, substr(date, 1, 7), grp, SUM(powered_ms), SUM(running_ms), SUM(covered_ms)
    FROM usage_group_day GROUP BY dim, substr(date, 1, 7), grp;
INSERT INTO usage_gaps (instrument_id, after, before)
  SELECT instrument_id, a, b FROM (
    SELECT instrument_id, COALESCE(LAG(date) OVER w, '0000-01-01') AS a, date AS b
      FROM daily_usage WHERE powered_ms > 0 WINDOW w AS (PARTITION BY instrument_id ORDER BY date)
    UNION ALL
    SELECT instrument_id, MAX(date), '9999-12-31' FROM daily_usage WHERE powered_ms > 0 GROUP BY instrument_id)
  WHERE julianday(b) - julianday(a) > 8;
`;

/**
 * Migration 10's triggers that keep usage_group_day and usage_group_month equal to a GROUP BY of
 * daily_usage: every daily_usage write adds its (signed) change to its org's and category's day and
 * month, and a registry change of org or category moves the instrument's days and months between
 * groups. Generated, because the same upsert stands 40 times; the text is what migration 10 ran
 * (collector/test/store.fleet-rollups.test.ts checks the sums).
 */
const ROLLUP_TABLES = [
  ['usage_group_day', 'date'],
  ['usage_group_month', 'month'],
] as const;
const ROLLUP_DIMS = ['org', 'category'] as const;

function rollupUpsert(table: string, key: string, select: string): string {
  return `  INSERT INTO ${table} (dim, ${key}, grp, powered_ms, running_ms, covered_ms)
    ${select}
    ON CONFLICT (dim, ${key}, grp) DO UPDATE SET powered_ms = powered_ms + excluded.powered_ms,
      running_ms = running_ms + excluded.running_ms, covered_ms = covered_ms + excluded.covered_ms;
`;
}

/** One daily_usage row (`new` or `old`) counted with `values` into both dimensions and tables. */
function rollupRowDelta(row: 'new' | 'old', values: string): string {
  let out = '';
  for (const dim of ROLLUP_DIMS)
    for (const [table, key] of ROLLUP_TABLES) {
      const when = key === 'date' ? `${row}.date` : `substr(${row}.date, 1, 7)`;
      out += rollupUpsert(
        table,
        key,
        `SELECT '${dim}', ${when}, COALESCE(i.${dim}, ''), ${values}
      FROM (SELECT 1) LEFT JOIN instruments i ON i.id = ${row}.instrument_id WHERE true`,
      );
    }
  return out;
}

/** An instrument's days and months moved from group `from` to group `to` of `dim` when `cond`. */
function rollupMove(id: string, dim: string, to: string, from: string, cond: string): string {
  let out = '';
  for (const [grp, sign] of [
    [to, ''],
    [from, '-'],
  ] as const)
    for (const [table, key] of ROLLUP_TABLES) {
      const source = key === 'date' ? 'daily_usage' : 'usage_month';
      out += rollupUpsert(
        table,
        key,
        `SELECT '${dim}', ${key}, ${grp}, ${sign}powered_ms, ${sign}running_ms, ${sign}covered_ms FROM ${source}
      WHERE instrument_id = ${id} AND ${cond}`,
      );
    }
  return out;
}

const trigger = (name: string, on: string, body: string) =>
  `CREATE TRIGGER ${name} ${on} BEGIN\n${body}END;\n`;
const perDim = (f: (dim: string) => string) => ROLLUP_DIMS.map(f).join('');

export const FLEET_ROLLUP_TRIGGERS =
  trigger(
    'daily_usage_group_insert',
    'AFTER INSERT ON daily_usage',
    rollupRowDelta('new', 'new.powered_ms, new.running_ms, new.covered_ms'),
  ) +
  trigger(
    'daily_usage_group_update',
    `AFTER UPDATE OF powered_ms, running_ms, covered_ms ON daily_usage
  WHEN new.powered_ms IS NOT old.powered_ms OR new.running_ms IS NOT old.running_ms
    OR new.covered_ms IS NOT old.covered_ms`,
    rollupRowDelta(
      'new',
      `new.powered_ms - old.powered_ms, new.running_ms - old.running_ms,
      new.covered_ms - old.covered_ms`,
    ),
  ) +
  trigger(
    'daily_usage_group_delete',
    'AFTER DELETE ON daily_usage',
    rollupRowDelta('old', '-old.powered_ms, -old.running_ms, -old.covered_ms'),
  ) +
  trigger(
    'instruments_group_insert',
    'AFTER INSERT ON instruments',
    perDim((d) =>
      rollupMove('new.id', d, `COALESCE(new.${d}, '')`, "''", `'' IS NOT COALESCE(new.${d}, '')`),
    ),
  ) +
  trigger(
    'instruments_group_update',
    'AFTER UPDATE OF org, category ON instruments',
    perDim((d) =>
      rollupMove(
        'new.id',
        d,
        `COALESCE(new.${d}, '')`,
        `COALESCE(old.${d}, '')`,
        `COALESCE(old.${d}, '') IS NOT COALESCE(new.${d}, '')`,
      ),
    ),
  ) +
  trigger(
    'instruments_group_delete',
    'AFTER DELETE ON instruments',
    perDim((d) =>
      rollupMove('old.id', d, "''", `COALESCE(old.${d}, '')`, `COALESCE(old.${d}, '') IS NOT ''`),
    ),
  );

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
-- change, everything derived is rebuilt from the ledger at start (derive/io/settings.ts).
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
    version: 4,
    name: 'hostile borders: ledger provenance, dedupe by (seq, ts), seq restarts, bounded rejected',
    sql: `
-- The authenticated agent that published the message (client_id is what the client chose).
ALTER TABLE messages ADD COLUMN username TEXT;
-- A duplicate is the same message: same seq AND same event time. An agent whose seq started again
-- at 0 (its outbox was lost) reuses seqs with other times: those messages are new and kept.
DROP INDEX messages_dedupe;
CREATE UNIQUE INDEX messages_dedupe ON messages (instrument_id, kind, seq, ts);
-- One row per detected restart of an agent's seq. cause: epoch_changed (the payload's epoch is new)
-- or seq_reused (a seq seen before came with another ts). gap_from: the latest event time the
-- collector had of the instrument before (NULL when none): the analytics raise data_gap from it to ts.
CREATE TABLE seq_restarts (
  id INTEGER PRIMARY KEY,
  instrument_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ts INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  epoch TEXT,
  previous_epoch TEXT,
  previous_ts INTEGER,
  gap_from INTEGER,
  cause TEXT NOT NULL,
  username TEXT,
  received_at INTEGER NOT NULL,
  message_id INTEGER NOT NULL
);
CREATE INDEX seq_restarts_by_instrument ON seq_restarts (instrument_id, kind, ts);
CREATE TABLE seq_epochs (
  instrument_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  epoch TEXT NOT NULL,
  since_ts INTEGER NOT NULL,
  PRIMARY KEY (instrument_id, kind)
) WITHOUT ROWID;
-- Refused publishes as bounded excerpts; a repeat (same agent, topic and payload: same digest)
-- counts in its row instead of adding one. Capped by size (row_bytes) and age (last_at).
CREATE TABLE rejected_v4 (
  id INTEGER PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  username TEXT,
  client_id TEXT,
  topic TEXT NOT NULL,
  topic_length INTEGER NOT NULL,
  reason TEXT NOT NULL,
  payload BLOB,
  payload_bytes INTEGER NOT NULL,
  row_bytes INTEGER NOT NULL
);
INSERT INTO rejected_v4 (digest, first_at, last_at, count, username, client_id, topic, topic_length,
  reason, payload, payload_bytes, row_bytes)
SELECT 'v3:' || id, received_at, received_at, 1, substr(username, 1, 128), substr(client_id, 1, 128),
  substr(topic, 1, 256), length(topic), substr(reason, 1, 512), substr(payload, 1, 256),
  COALESCE(length(payload), 0),
  200 + length(substr(topic, 1, 256)) + length(substr(reason, 1, 512)) + COALESCE(length(substr(payload, 1, 256)), 0)
FROM rejected;
DROP TABLE rejected;
ALTER TABLE rejected_v4 RENAME TO rejected;
CREATE INDEX rejected_by_last_at ON rejected (last_at);
`,
  },
  {
    version: 5,
    name: 'exports: series table, export cursors, usage change log, alert events',
    // Everything here is read AFTER commit, off the ingest path: ingest writes none of these tables.
    // - series_telemetry: the raw telemetry of the last series.retention (default 30 days) for the
    //   series route when no InfluxDB is configured, copied from the ledger by rowid high-water
    //   mark and pruned by age; the ledger keeps every message.
    // - export_cursors: durable high-water marks (ledger rowid, usage_changes id, alert_events id)
    //   of each export: the SQLite series copy and the InfluxDB shipper.
    // - usage_changes: every write of a daily_usage row (recompute, rederive, deletes), so that a
    //   re-derived day overwrites its usage_daily point in InfluxDB.
    // - influx_state_runs: per instrument, the open state interval already shipped to InfluxDB.
    // (alert_events, shipped as the `alert` measurement, is created with the alerts in migration 8.)
    sql: `
CREATE TABLE series_telemetry (
  instrument_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (instrument_id, ts, message_id)
) WITHOUT ROWID;
CREATE TABLE export_cursors (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- AUTOINCREMENT: rows are deleted once shipped, and an id must never come back below the cursor.
CREATE TABLE usage_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL
);
CREATE TRIGGER usage_changes_insert AFTER INSERT ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (NEW.instrument_id, NEW.date);
END;
CREATE TRIGGER usage_changes_update AFTER UPDATE ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (NEW.instrument_id, NEW.date);
END;
CREATE TRIGGER usage_changes_delete AFTER DELETE ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (OLD.instrument_id, OLD.date);
END;
CREATE TABLE influx_state_runs (
  instrument_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  start INTEGER NOT NULL,
  last_ts INTEGER NOT NULL
);
`,
  },
  {
    version: 6,
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
-- DROP TABLE took migration 5's change-log triggers with it (the InfluxDB shipper's usage_daily)
CREATE TRIGGER usage_changes_insert AFTER INSERT ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (NEW.instrument_id, NEW.date);
END;
CREATE TRIGGER usage_changes_update AFTER UPDATE ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (NEW.instrument_id, NEW.date);
END;
CREATE TRIGGER usage_changes_delete AFTER DELETE ON daily_usage BEGIN
  INSERT INTO usage_changes (instrument_id, date) VALUES (OLD.instrument_id, OLD.date);
END;
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
  {
    version: 7,
    name: 'bookings, usage rollups by month, notification queue',
    // usage_month: per instrument and month (YYYY-MM of the local date), the sums of its daily_usage
    // rows. usage_month_cum: per stored day, the sums of the month's stored days up to and including
    // it. A period is then whole months + two prefix differences, whatever its length. The triggers
    // keep both exact for every INSERT, UPDATE (upsert) and DELETE on daily_usage; INSERT OR REPLACE
    // must not be used on daily_usage (its implicit delete fires no trigger).
    sql: `
CREATE TABLE bookings (
  id TEXT PRIMARY KEY,
  instrument_id TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  user TEXT,
  org TEXT,
  external INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
-- Bookings of an instrument overlapping [from, to): start_ms < to, scanned back a bounded span.
CREATE INDEX bookings_by_instrument ON bookings (instrument_id, start_ms);
-- Bookings of a whole fleet overlapping a period (per-org reconciliation).
CREATE INDEX bookings_by_start ON bookings (start_ms);

CREATE TABLE usage_month (
  instrument_id TEXT NOT NULL,
  month TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  PRIMARY KEY (instrument_id, month)
) WITHOUT ROWID;
CREATE TABLE usage_month_cum (
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  PRIMARY KEY (instrument_id, date)
) WITHOUT ROWID;
-- Powered days only, in (instrument, date) order: the idle trend's spells without table lookups.
CREATE INDEX daily_usage_powered ON daily_usage (instrument_id, date) WHERE powered_ms > 0;
-- The prefix sums of a whole fleet at one date (period edges): one covering index range.
CREATE INDEX usage_month_cum_by_date ON usage_month_cum (date, instrument_id, powered_ms, running_ms, covered_ms);
INSERT INTO usage_month (instrument_id, month, powered_ms, running_ms, covered_ms)
  SELECT instrument_id, substr(date, 1, 7), SUM(powered_ms), SUM(running_ms), SUM(covered_ms)
    FROM daily_usage GROUP BY instrument_id, substr(date, 1, 7);
INSERT INTO usage_month_cum (instrument_id, date, powered_ms, running_ms, covered_ms)
  SELECT instrument_id, date,
    SUM(powered_ms) OVER w, SUM(running_ms) OVER w, SUM(covered_ms) OVER w
    FROM daily_usage
    WINDOW w AS (PARTITION BY instrument_id, substr(date, 1, 7) ORDER BY date);
CREATE TRIGGER daily_usage_rollup_insert AFTER INSERT ON daily_usage BEGIN
  INSERT INTO usage_month (instrument_id, month, powered_ms, running_ms, covered_ms)
    VALUES (new.instrument_id, substr(new.date, 1, 7), new.powered_ms, new.running_ms, new.covered_ms)
    ON CONFLICT (instrument_id, month) DO UPDATE SET powered_ms = powered_ms + excluded.powered_ms,
      running_ms = running_ms + excluded.running_ms, covered_ms = covered_ms + excluded.covered_ms;
  UPDATE usage_month_cum SET powered_ms = powered_ms + new.powered_ms,
      running_ms = running_ms + new.running_ms, covered_ms = covered_ms + new.covered_ms
    WHERE instrument_id = new.instrument_id AND date > new.date AND date <= substr(new.date, 1, 7) || '-31';
  INSERT INTO usage_month_cum (instrument_id, date, powered_ms, running_ms, covered_ms)
    SELECT new.instrument_id, new.date, new.powered_ms + COALESCE(p.powered_ms, 0),
      new.running_ms + COALESCE(p.running_ms, 0), new.covered_ms + COALESCE(p.covered_ms, 0)
    FROM (SELECT 1) LEFT JOIN (
      SELECT powered_ms, running_ms, covered_ms FROM usage_month_cum
        WHERE instrument_id = new.instrument_id AND date < new.date AND date >= substr(new.date, 1, 7) || '-01'
        ORDER BY date DESC LIMIT 1) p;
END;
CREATE TRIGGER daily_usage_rollup_update AFTER UPDATE OF powered_ms, running_ms, covered_ms ON daily_usage
  WHEN new.powered_ms IS NOT old.powered_ms OR new.running_ms IS NOT old.running_ms
    OR new.covered_ms IS NOT old.covered_ms BEGIN
  UPDATE usage_month SET powered_ms = powered_ms + new.powered_ms - old.powered_ms,
      running_ms = running_ms + new.running_ms - old.running_ms,
      covered_ms = covered_ms + new.covered_ms - old.covered_ms
    WHERE instrument_id = new.instrument_id AND month = substr(new.date, 1, 7);
  UPDATE usage_month_cum SET powered_ms = powered_ms + new.powered_ms - old.powered_ms,
      running_ms = running_ms + new.running_ms - old.running_ms,
      covered_ms = covered_ms + new.covered_ms - old.covered_ms
    WHERE instrument_id = new.instrument_id AND date >= new.date AND date <= substr(new.date, 1, 7) || '-31';
END;
CREATE TRIGGER daily_usage_rollup_delete AFTER DELETE ON daily_usage BEGIN
  UPDATE usage_month SET powered_ms = powered_ms - old.powered_ms, running_ms = running_ms - old.running_ms,
      covered_ms = covered_ms - old.covered_ms
    WHERE instrument_id = old.instrument_id AND month = substr(old.date, 1, 7);
  DELETE FROM usage_month_cum WHERE instrument_id = old.instrument_id AND date = old.date;
  UPDATE usage_month_cum SET powered_ms = powered_ms - old.powered_ms, running_ms = running_ms - old.running_ms,
      covered_ms = covered_ms - old.covered_ms
    WHERE instrument_id = old.instrument_id AND date > old.date AND date <= substr(old.date, 1, 7) || '-31';
END;

-- Notifications: one row per (change or digest, channel), inserted by the alert store's sink in the
-- alert's own transaction; the dispatcher delivers due rows in the background. status: pending,
-- delivered, dead (after the last try, or an answer that retrying cannot fix).
CREATE TABLE notify_deliveries (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  alert_id TEXT,
  instrument_id TEXT,
  org TEXT,
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  last_error TEXT,
  done_at INTEGER
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notify_deliveries_by_status ON notify_deliveries (status, id);
CREATE INDEX notify_deliveries_by_alert ON notify_deliveries (alert_id, channel) WHERE alert_id IS NOT NULL;
-- Weekly digests already queued, by scheduled instant: a restart does not send one twice.
CREATE TABLE notify_digest_runs (slot INTEGER PRIMARY KEY, queued_at INTEGER NOT NULL, deliveries INTEGER NOT NULL);
`,
  },
  {
    version: 8,
    name: 'alerts, their episodes and events, detector state',
    // Alerts are records, not derivations: people acknowledge and resolve them, so rederive never
    // drops them. Episodes tie each detector finding to its alert, so a finding reported again
    // (after a restart, a replay, a refold) changes nothing. alert_events is append-only (the
    // InfluxDB shipper reads it). detect_* hold the detectors' state: per instrument, and at each
    // local midnight (checkpoint + that day's histograms) so late data folds again from there.
    sql: `
ALTER TABLE instruments ADD COLUMN anomaly TEXT;
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  instrument_id TEXT NOT NULL,
  org TEXT,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  closed_at INTEGER,
  detail TEXT NOT NULL,
  opened_by TEXT,
  open_note TEXT,
  acked_at INTEGER,
  acked_by TEXT,
  ack_note TEXT,
  resolved_by TEXT,
  resolve_note TEXT,
  -- when an open alert whose episodes all ended may resolve by itself (clearAfter past the end)
  clear_at INTEGER
);
CREATE INDEX alerts_by_opened ON alerts (opened_at, id);
CREATE INDEX alerts_by_instrument ON alerts (instrument_id, type, opened_at);
CREATE INDEX alerts_to_clear ON alerts (clear_at) WHERE clear_at IS NOT NULL;
CREATE TABLE alert_events (
  id INTEGER PRIMARY KEY,
  alert_id TEXT NOT NULL,
  instrument_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  transition TEXT NOT NULL,
  at INTEGER NOT NULL,
  by TEXT,
  note TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX alert_events_by_alert ON alert_events (alert_id, id);
CREATE TABLE alert_episodes (
  instrument_id TEXT NOT NULL,
  type TEXT NOT NULL,
  start INTEGER NOT NULL,
  sticky INTEGER NOT NULL,
  "end" INTEGER,
  alert_id TEXT NOT NULL,
  PRIMARY KEY (instrument_id, type, start, sticky)
) WITHOUT ROWID;
CREATE INDEX alert_episodes_by_alert ON alert_episodes (alert_id);
CREATE TABLE detect_state (
  instrument_id TEXT PRIMARY KEY,
  state TEXT NOT NULL
);
CREATE TABLE detect_days (
  instrument_id TEXT NOT NULL,
  date TEXT NOT NULL,
  checkpoint TEXT,
  hist TEXT,
  PRIMARY KEY (instrument_id, date)
) WITHOUT ROWID;
CREATE TABLE detect_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- each run of the collector: wills its own shutdown makes the broker publish are not an agent's
CREATE TABLE collector_runs (started_at INTEGER PRIMARY KEY, stopping_at INTEGER);
`,
  },
  {
    version: 9,
    name: 'API keys and agent credentials kept in the store',
    // Read at every request / CONNECT, so a key made or revoked by the CLI while the collector runs
    // counts at once. Secrets are never stored: a key's SHA-256 (keys are 32 random bytes, so a
    // fast digest suffices), a password's scrypt hash with its parameters.
    sql: `
CREATE TABLE api_keys (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  org TEXT,
  digest TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  revoked_at INTEGER
);
CREATE TABLE agent_credentials (
  username TEXT PRIMARY KEY,
  instruments TEXT NOT NULL,
  org TEXT,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  rotated_at INTEGER,
  revoked_at INTEGER
);
`,
  },
  {
    version: 10,
    name: 'fleet rollups: usage per org and category and day, unpowered gaps per instrument',
    // usage_group_day: per dimension (org, category), local date and group ('' for none: not in the
    // registry, or no org/category there), the sums of the daily_usage rows of the group's
    // instruments; usage_group_month the same per month. A fleet's figures per org over a year are
    // then whole months plus the days of the two edge months, not 16,000 instruments' rows; triggers keep it exact on every write of daily_usage and move an
    // instrument's days when the registry changes its org or category.
    // usage_gaps: per instrument, the runs of days without powered time between two powered days
    // (after, before), kept when at least 8 days long ('0000-01-01' before the first powered day,
    // '9999-12-31' after the last; an instrument never powered has no row). The idle trend reads
    // these few rows instead of every powered day of the fleet.
    sql: `
CREATE TABLE usage_group_day (
  dim TEXT NOT NULL,
  date TEXT NOT NULL,
  grp TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  PRIMARY KEY (dim, date, grp)
) WITHOUT ROWID;
CREATE TABLE usage_group_month (
  dim TEXT NOT NULL,
  month TEXT NOT NULL,
  grp TEXT NOT NULL,
  powered_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  covered_ms INTEGER NOT NULL,
  PRIMARY KEY (dim, month, grp)
) WITHOUT ROWID;
CREATE TABLE usage_gaps (
  instrument_id TEXT NOT NULL,
  after TEXT NOT NULL,
  before TEXT NOT NULL,
  PRIMARY KEY (instrument_id, after)
) WITHOUT ROWID;
${FLEET_ROLLUP_BACKFILL}
${FLEET_ROLLUP_TRIGGERS}CREATE TRIGGER daily_usage_gap_insert AFTER INSERT ON daily_usage WHEN new.powered_ms > 0 BEGIN
  DELETE FROM usage_gaps WHERE instrument_id = new.instrument_id AND after = COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01');
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT new.instrument_id, a, new.date FROM (SELECT COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01') AS a)
    WHERE julianday(new.date) - julianday(a) > 8;
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT new.instrument_id, new.date, b FROM (SELECT COALESCE((SELECT MIN(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date > new.date), '9999-12-31') AS b)
    WHERE julianday(b) - julianday(new.date) > 8;
END;
CREATE TRIGGER daily_usage_gap_powered AFTER UPDATE OF powered_ms ON daily_usage
  WHEN new.powered_ms > 0 AND NOT old.powered_ms > 0 BEGIN
  DELETE FROM usage_gaps WHERE instrument_id = new.instrument_id AND after = COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01');
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT new.instrument_id, a, new.date FROM (SELECT COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01') AS a)
    WHERE julianday(new.date) - julianday(a) > 8;
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT new.instrument_id, new.date, b FROM (SELECT COALESCE((SELECT MIN(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date > new.date), '9999-12-31') AS b)
    WHERE julianday(b) - julianday(new.date) > 8;
END;
CREATE TRIGGER daily_usage_gap_unpowered AFTER UPDATE OF powered_ms ON daily_usage
  WHEN old.powered_ms > 0 AND NOT new.powered_ms > 0 BEGIN
  DELETE FROM usage_gaps WHERE instrument_id = new.instrument_id AND after IN (COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01'), new.date);
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT new.instrument_id, a, b FROM (SELECT COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date < new.date), '0000-01-01') AS a, COALESCE((SELECT MIN(date) FROM daily_usage WHERE instrument_id = new.instrument_id AND powered_ms > 0 AND date > new.date), '9999-12-31') AS b)
    WHERE julianday(b) - julianday(a) > 8 AND NOT (a = '0000-01-01' AND b = '9999-12-31');
END;
CREATE TRIGGER daily_usage_gap_delete AFTER DELETE ON daily_usage WHEN old.powered_ms > 0 BEGIN
  DELETE FROM usage_gaps WHERE instrument_id = old.instrument_id AND after IN (COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = old.instrument_id AND powered_ms > 0 AND date < old.date), '0000-01-01'), old.date);
  INSERT INTO usage_gaps (instrument_id, after, before)
    SELECT old.instrument_id, a, b FROM (SELECT COALESCE((SELECT MAX(date) FROM daily_usage WHERE instrument_id = old.instrument_id AND powered_ms > 0 AND date < old.date), '0000-01-01') AS a, COALESCE((SELECT MIN(date) FROM daily_usage WHERE instrument_id = old.instrument_id AND powered_ms > 0 AND date > old.date), '9999-12-31') AS b)
    WHERE julianday(b) - julianday(a) > 8 AND NOT (a = '0000-01-01' AND b = '9999-12-31');
END;
`,
  },
];
