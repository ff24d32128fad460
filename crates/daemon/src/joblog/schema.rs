//! The job log's tables, and how a `state.db` written by an older lifeboat is brought up to
//! date in place.
//!
//! `schema_version` holds one row per migration applied. Each migration runs once, in order,
//! in the write transaction that records it, so two processes opening an old store at once
//! cannot both upgrade it: the second waits for the first (busy timeout) and finds nothing to
//! do. A store already at the latest version is only read. A store newer than this binary is
//! refused rather than written to: its rows may mean what this binary cannot know.

use jiff::Timestamp;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::error::{DaemonError, DaemonErrorKind, Result};

/// One step from a version to the next: what it does, and the change itself.
struct Migration {
    what: &'static str,
    apply: fn(&Connection) -> rusqlite::Result<()>,
}

const MIGRATIONS: [Migration; 4] = [
    Migration { what: "jobs, schedule marks and daemon memory", apply: tables },
    Migration { what: "indexes for the front ends' queries; the backup_logs and backup_stats views", apply: indexes_and_views },
    Migration { what: "each job's request, as the runner was given it", apply: requests },
    Migration { what: "API tokens, dashboard users and the audit log", apply: access },
];

/// The version this binary writes: the number of migrations it knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the store behind `conn` to [`LATEST`]; `place` names it in errors.
pub(super) fn migrate(conn: &mut Connection, place: &str) -> Result<()> {
    let failed = |e: rusqlite::Error| DaemonError::state(format!("upgrading the job log {place}"), e);
    if version(conn).map_err(failed)? == LATEST {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, what TEXT NOT NULL)",
    )
    .map_err(failed)?;
    // Read again under the write lock: another process may have upgraded it meanwhile.
    let current = version(&tx).map_err(failed)?;
    if current > LATEST {
        return Err(DaemonError::new(
            DaemonErrorKind::State,
            format!("the job log {place} was written by a newer lifeboat (schema version {current}; this one knows up to {LATEST})"),
            "run the newer lifeboat, or give this one a state directory of its own ([state] dir or LIFEBOAT_STATE_DIR); nothing was changed",
        ));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        (migration.apply)(&tx).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at, what) VALUES (?1, ?2, ?3)",
            params![index as i64 + 1, Timestamp::now().to_string(), migration.what],
        )
        .map_err(failed)?;
    }
    tx.commit().map_err(failed)
}

/// The store's version: 0 for one made before versions were kept (or a new, empty file).
fn version(conn: &Connection) -> rusqlite::Result<i64> {
    let kept: bool =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", [], |r| r.get(0))?;
    if !kept {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce(max(version), 0) FROM schema_version", [], |r| r.get(0))
}

/// Version 1: the tables as lifeboat wrote them before it kept versions. Written to be
/// applied over any of those stores: what is there stays, what is missing is added.
fn tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        r"
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    database TEXT,
    repository TEXT,
    kind TEXT NOT NULL,
    classes TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    snapshot TEXT,
    bytes_read INTEGER,
    bytes_added INTEGER,
    rows INTEGER,
    error TEXT,
    lock_wait_seconds REAL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_marks (key TEXT PRIMARY KEY, last_slot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daemon_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL);
",
    )?;
    // Columns the first releases added when a store lacked them.
    for (column, kind) in [("pid_start", "INTEGER"), ("content_key", "TEXT"), ("covered_by", "TEXT")] {
        let present: bool = conn.query_row("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = ?1", [column], |r| r.get(0))?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Version 2: an index for each question the front ends ask (see `queries.rs`), and two views
/// for people who query `state.db` with `sqlite3` (documented in the README).
fn indexes_and_views(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        r"
DROP INDEX IF EXISTS jobs_by_database;
CREATE INDEX jobs_by_database_kind ON jobs (database, kind, id);
CREATE INDEX jobs_by_kind ON jobs (kind, id);
CREATE INDEX jobs_by_kind_repository ON jobs (kind, repository, id);
-- Covering: backup_stats reads the first, the metrics' counts and newest jobs the second; no row is read.
CREATE INDEX jobs_for_backup_stats ON jobs (kind, database, trigger, status, started_at, bytes_added);
CREATE INDEX jobs_by_outcome ON jobs (kind, status, database, classes);
CREATE INDEX jobs_by_snapshot ON jobs (snapshot, kind);
CREATE INDEX jobs_by_content_key ON jobs (content_key) WHERE content_key IS NOT NULL;
CREATE INDEX jobs_running ON jobs (id) WHERE status = 'running';
CREATE INDEX jobs_by_start ON jobs (started_at);

CREATE VIEW backup_logs AS
SELECT id,
       started_at AS created_at,
       database,
       classes,
       CASE trigger WHEN 'schedule' THEN 'automated' ELSE 'manual' END AS trigger,
       trigger AS started_by,
       actor,
       reason,
       status,
       snapshot,
       bytes_read AS bytes,
       bytes_added,
       rows,
       round((julianday(finished_at) - julianday(started_at)) * 86400, 3) AS duration_seconds,
       finished_at,
       error,
       repository
FROM jobs
WHERE kind = 'backup';

CREATE VIEW backup_stats AS
WITH per_database AS MATERIALIZED (
    SELECT database,
           count(*) AS backups,
           sum(trigger = 'schedule') AS automated,
           sum(trigger <> 'schedule') AS manual,
           sum(status = 'ok') AS ok,
           sum(status = 'failed') AS failed,
           max(CASE WHEN status = 'ok' THEN started_at END) AS last_good_backup,
           max(started_at) AS last_backup,
           coalesce(sum(CASE WHEN status = 'ok' THEN bytes_added END), 0) AS bytes_added
    FROM jobs
    WHERE kind = 'backup' AND database IS NOT NULL
    GROUP BY database
)
SELECT * FROM per_database
UNION ALL
SELECT '(all)',
       coalesce(sum(backups), 0),
       coalesce(sum(automated), 0),
       coalesce(sum(manual), 0),
       coalesce(sum(ok), 0),
       coalesce(sum(failed), 0),
       max(last_good_backup),
       max(last_backup),
       coalesce(sum(bytes_added), 0)
FROM per_database;
",
    )
}

fn requests(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("ALTER TABLE jobs ADD COLUMN request TEXT")
}

fn access(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        r"
CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    databases TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT
);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    databases TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_last_step INTEGER,
    created_at TEXT NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (at);
",
    )
}
