//! The job log: one row per job (backup, drill, check, forget, prune, copy) in `state.db`, an
//! SQLite file in the state directory, written by the daemon and by CLI commands given a
//! config or `LIFEBOAT_STATE_DIR`. Several processes write it at once (WAL, a busy timeout).
//!
//! A row is written when the job starts (`running`) and completed when it ends, so a job whose
//! process was killed is still there: the next daemon start marks it `interrupted`.
//!
//! This file writes jobs; `recorded.rs` is how every front end records one around its work,
//! `queries.rs` answers the front ends' questions, `schema.rs` holds the tables and their
//! migrations, `retention.rs` how long a job is kept.

use std::{
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use jiff::Timestamp;
use lifeboat_engine::{BackupReport, CheckReport, VerifyReport};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{DaemonError, Result};

mod queries;
mod recorded;
mod retention;
mod schema;

pub use queries::{BackupTotals, Filter};
pub use recorded::RecordedJob;
pub(crate) use retention::DEFAULT_KEEP_JOBS;
#[cfg(test)]
use schema::LATEST as SCHEMA_VERSION;

/// What started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    Api,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Api => "api",
        }
    }
}

/// What a job does. Written to the log as its lowercase name; rows are read back as text,
/// so that a log written by a newer lifeboat, with kinds this one does not know, still reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
    Drill,
    Check,
    Forget,
    Prune,
    Copy,
    Export,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Drill => "drill",
            JobKind::Check => "check",
            JobKind::Forget => "forget",
            JobKind::Prune => "prune",
            JobKind::Copy => "copy",
            JobKind::Export => "export",
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job about to start.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// `None` for jobs on the whole repository (check, prune).
    pub database: Option<&'a str>,
    /// The mirror it works on (its URL), `None` for the primary repository.
    pub repository: Option<&'a str>,
    pub kind: JobKind,
    pub classes: &'a [String],
    pub trigger: Trigger,
    /// Who it runs for; `None` is the user this process runs as.
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The request it was given, as JSON.
    pub request: Option<&'a str>,
}

/// How a job ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `ok`, `failed`, `interrupted` or `skipped`.
    pub status: &'static str,
    pub snapshot: Option<String>,
    pub bytes_read: Option<u64>,
    pub bytes_added: Option<u64>,
    pub rows: Option<u64>,
    /// The error, or why the job was skipped.
    pub error: Option<String>,
    /// How long it waited for other jobs' repository locks.
    pub lock_wait_seconds: Option<f64>,
    /// A drill: what it proved, as `lifeboat_engine::content_key` names it.
    pub content_key: Option<String>,
    /// A drill that did not run because a passed drill of this snapshot proved the same
    /// content: that drill's snapshot.
    pub covered_by: Option<String>,
}

impl Outcome {
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self { status: "failed", error: Some(error.to_string()), ..Default::default() }
    }

    /// A backup that was written: its snapshot and figures, its warnings as the error text.
    pub fn of_backup(report: &BackupReport) -> Self {
        let entry = &report.entry;
        Self {
            status: "ok",
            snapshot: Some(entry.id.clone()),
            bytes_read: Some(entry.summary.bytes),
            bytes_added: Some(entry.added_bytes),
            rows: Some(entry.summary.rows),
            error: (!report.warnings.is_empty()).then(|| report.warnings.join("; ")),
            ..Default::default()
        }
    }

    /// A restore drill: ok with the rows it restored, or failed with its problems.
    pub fn of_drill(report: &VerifyReport) -> Self {
        let snapshot = Some(report.snapshot.id.clone());
        if !report.ok() {
            return Self { snapshot, ..Self::failed(report.problems.join("; ")) };
        }
        let rows = report.check.as_ref().map(|c| c.tables.iter().filter_map(|t| t.actual_rows).sum());
        Self { status: "ok", snapshot, rows, content_key: report.content_key.clone(), ..Default::default() }
    }

    /// A repository check: ok, or failed with how many errors and the first few.
    pub fn of_check(report: &CheckReport) -> Self {
        if !report.has_errors() {
            return Self { status: "ok", ..Default::default() };
        }
        let errors: Vec<&str> = report.findings.iter().filter(|f| f.error).map(|f| f.message.as_str()).collect();
        Self::failed(format!(
            "{} errors ({} snapshots affected), e.g. {}",
            errors.len(),
            report.affected.len(),
            errors.iter().take(3).copied().collect::<Vec<_>>().join("; ")
        ))
    }
}

/// A restore drill of one snapshot, as the log remembers it.
#[derive(Debug, Clone)]
pub struct DrillRecord {
    pub at: Timestamp,
    pub passed: bool,
    /// The drill did not run itself: a passed drill of this snapshot proved the same content.
    pub covered_by: Option<String>,
}

/// One row of the log, as `lifeboat log --json` prints it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct JobRecord {
    pub id: i64,
    pub database: Option<String>,
    /// The mirror it worked on; `None` for the primary repository.
    pub repository: Option<String>,
    pub kind: String,
    pub classes: Vec<String>,
    pub trigger: String,
    pub actor: String,
    pub reason: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: String,
    pub snapshot: Option<String>,
    pub bytes_read: Option<u64>,
    pub bytes_added: Option<u64>,
    pub rows: Option<u64>,
    pub error: Option<String>,
    pub lock_wait_seconds: Option<f64>,
    /// A drill covered by an earlier drill of the same content: that drill's snapshot.
    pub covered_by: Option<String>,
    /// The request the job was given (its kind's options), when it was recorded: the JSON
    /// the runner wrote, passed on as it is (not parsed: `log --json` streams many rows).
    #[schemars(with = "Option<serde_json::Value>")]
    pub request: Option<Box<serde_json::value::RawValue>>,
    pub host: String,
    pub pid: u32,
    /// When the process started (clock ticks since boot, from `/proc`): tells the job's own
    /// process from a later one that got the same pid.
    #[serde(skip)]
    pub pid_start: Option<u64>,
}

impl JobRecord {
    /// Whether the process that runs this job is still there.
    fn process_alive(&self) -> bool {
        process_alive(self.pid, self.pid_start)
    }

    pub fn seconds(&self) -> Option<f64> {
        self.finished_at.map(|end| end.duration_since(self.started_at).as_secs_f64())
    }
}

pub struct JobLog {
    /// Shared with the access tables of the same file (`crate::access`).
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl JobLog {
    /// Opens (creating) `state.db` in `dir`, creating `dir` with mode 0700: the log names
    /// databases, hosts and errors, which are nobody else's business.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
                DaemonError::new(
                    crate::error::DaemonErrorKind::State,
                    format!("cannot create the state directory {}", dir.display()),
                    "create it (mode 0700) for the user lifeboat runs as, or set [state] dir / LIFEBOAT_STATE_DIR",
                )
                .with_source(e)
            })?;
        }
        let path = dir.join("state.db");
        // Made 0600 before SQLite opens it (its -wal and -shm files take the same mode), so
        // there is no moment when others could read it.
        if !path.exists() {
            write_private(&path, b"").map_err(|e| {
                DaemonError::new(
                    crate::error::DaemonErrorKind::State,
                    format!("cannot create the job log {}", path.display()),
                    "check the state directory's permissions",
                )
                .with_source(e)
            })?;
        }
        let mut conn = Connection::open(&path).map_err(|e| DaemonError::state(format!("cannot open the job log {}", path.display()), e))?;
        // One an older version left readable by others is made private (never the reverse).
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        conn.busy_timeout(Duration::from_secs(10)).map_err(|e| DaemonError::state("setting the job log's busy timeout", e))?;
        conn.pragma_update(None, "journal_mode", "wal").map_err(|e| DaemonError::state(format!("opening {}", path.display()), e))?;
        schema::migrate(&mut conn, &path.display().to_string())?;
        Ok(Self { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `job` starts now; returns its id.
    pub fn start(&self, job: &NewJob) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO jobs (database, kind, classes, trigger, actor, reason, started_at, status, host, pid, repository, pid_start, request)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10, ?11, ?12)",
                params![
                    job.database,
                    job.kind.as_str(),
                    job.classes.join(","),
                    job.trigger.as_str(),
                    job.actor.map_or_else(actor, str::to_string),
                    job.reason,
                    Timestamp::now().to_string(),
                    lifeboat_engine::host_name(),
                    std::process::id(),
                    job.repository,
                    process_start(std::process::id()).map(|t| t as i64),
                    job.request
                ],
            )
            .map_err(|e| DaemonError::state("recording a job's start", e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how job `id` ended.
    pub fn finish(&self, id: i64, outcome: &Outcome) -> Result<()> {
        let as_i64 = |v: Option<u64>| v.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "UPDATE jobs SET finished_at = ?2, status = ?3, snapshot = ?4, bytes_read = ?5, bytes_added = ?6, rows = ?7, error = ?8,
                        lock_wait_seconds = ?9, content_key = ?10, covered_by = ?11
                 WHERE id = ?1",
                params![
                    id,
                    Timestamp::now().to_string(),
                    outcome.status,
                    outcome.snapshot,
                    as_i64(outcome.bytes_read),
                    as_i64(outcome.bytes_added),
                    as_i64(outcome.rows),
                    outcome.error,
                    outcome.lock_wait_seconds,
                    outcome.content_key,
                    outcome.covered_by
                ],
            )
            .map_err(|e| DaemonError::state("recording a job's end", e))?;
        Ok(())
    }

    /// Marks as `interrupted` the jobs still `running` whose process on this host is gone
    /// (killed, or the machine went down); returns how many. Every reader shows them so
    /// already (see [`JobLog::scan`]); this writes it down, so that what SQL counts and groups
    /// agrees with what `scan` shows. Cheap: an index holds the running jobs.
    pub fn mark_interrupted(&self) -> Result<usize> {
        let failed = |e| DaemonError::state("marking interrupted jobs", e);
        let this_host = lifeboat_engine::host_name();
        let mut stmt = self.conn.prepare("SELECT id, pid, pid_start FROM jobs WHERE status = 'running' AND host = ?1").map_err(failed)?;
        let running = stmt
            .query_map([this_host], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, Option<i64>>(2)?)))
            .map_err(failed)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        let mut marked = 0;
        for (id, pid, pid_start) in running {
            if process_alive(pid, pid_start.map(|t| t as u64)) {
                continue;
            }
            marked += self
                .conn
                .execute(
                    "UPDATE jobs SET status = 'interrupted', finished_at = ?2, error = ?3 WHERE id = ?1 AND status = 'running'",
                    params![id, Timestamp::now().to_string(), gone(pid)],
                )
                .map_err(failed)?;
        }
        Ok(marked)
    }

    /// What the daemon's alerts remembered when last saved (see `alerts/state.rs`).
    pub fn alert_memory(&self) -> Result<Option<crate::alerts::AlertMemory>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM daemon_memory WHERE key = 'alerts'", [], |r| r.get(0))
            .optional()
            .map_err(|e| DaemonError::state("reading the alert state", e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_alert_memory(&self, memory: &crate::alerts::AlertMemory) -> Result<()> {
        let text = serde_json::to_string(memory).expect("the alert state serializes");
        self.conn
            .execute(
                "INSERT INTO daemon_memory (key, value) VALUES ('alerts', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [text],
            )
            .map_err(|e| DaemonError::state("writing the alert state", e))?;
        Ok(())
    }

    /// The last slot a schedule fired for (see the daemon's catch-up).
    pub fn last_slot(&self, key: &str) -> Result<Option<Timestamp>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT last_slot FROM schedule_marks WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| DaemonError::state("reading the schedule marks", e))?;
        Ok(text.and_then(|t| t.parse().ok()))
    }

    pub fn set_last_slot(&self, key: &str, slot: Timestamp) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO schedule_marks (key, last_slot) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET last_slot = excluded.last_slot",
                params![key, slot.to_string()],
            )
            .map_err(|e| DaemonError::state("writing the schedule marks", e))?;
        Ok(())
    }
}

/// Whether process `pid` is still there and, when its start time was recorded, is the same
/// process (pids are reused).
fn process_alive(pid: u32, pid_start: Option<u64>) -> bool {
    match (process_start(pid), pid_start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => lifeboat_engine::process_exists(i64::from(pid)),
    }
}

/// Why a job that was `running` is interrupted.
fn gone(pid: u32) -> String {
    format!("process {pid} ended before the job did")
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`, clock ticks since boot);
/// `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Writes `bytes` to a new or truncated file at `path` that only this user can read (0600,
/// whatever the umask).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// The OS user running this process.
pub fn actor() -> String {
    lifeboat_engine::user_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_recorded_at_its_start_and_completed_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log = JobLog::open(&state).unwrap();
        assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
        let classes = vec!["hourly".to_string(), "daily".to_string()];
        let id = log
            .start(&NewJob {
                database: Some("app"),
                repository: None,
                kind: JobKind::Backup,
                classes: &classes,
                trigger: Trigger::Schedule,
                reason: None,
                actor: None,
                request: None,
            })
            .unwrap();
        let running = log.query(&Filter::default()).unwrap();
        assert_eq!(running[0].status, "running");
        log.finish(id, &Outcome { status: "ok", snapshot: Some("abc".into()), bytes_read: Some(10), rows: Some(3), ..Default::default() })
            .unwrap();
        let done = &log.query(&Filter { database: Some("app".into()), ..Default::default() }).unwrap()[0];
        assert_eq!((done.status.as_str(), done.snapshot.as_deref(), done.rows), ("ok", Some("abc"), Some(3)));
        assert_eq!(done.classes, classes);
        assert!(log.query(&Filter { status: Some("failed".into()), ..Default::default() }).unwrap().is_empty());
        // Our own running job is alive: it is not marked interrupted.
        log.start(&NewJob {
            database: Some("app"),
            repository: None,
            kind: JobKind::Backup,
            classes: &[],
            trigger: Trigger::Manual,
            reason: Some("r"),
            actor: None,
            request: None,
        })
        .unwrap();
        assert_eq!(log.mark_interrupted().unwrap(), 0);
    }

    /// Every row of a table of the store, as text, for comparing a store before and after:
    /// the columns it has in `like` (a later version's new columns left out).
    fn dump_as(conn: &Connection, like: &Connection, table: &str) -> Vec<String> {
        let names: Vec<String> = like
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        dump(conn, &format!("(SELECT {} FROM {table})", names.join(", ")))
    }

    /// Every row of `table` (or a parenthesized query), as text.
    fn dump(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1")).unwrap();
        let columns = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..columns)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// `fixtures/state-before-versions.sql` is `sqlite3 state.db .dump` of a state directory
    /// written by lifeboat 2eb7d49 (the last release before versions were kept): CLI backups,
    /// a failed backup, a drill, a check, a forget, a restore, and a daemon's schedule marks
    /// and alert memory.
    #[test]
    fn a_store_written_before_versions_were_kept_is_upgraded_in_place_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-before-versions.sql")).unwrap();
        let old = Connection::open_in_memory().unwrap();
        old.execute_batch(&fixture).unwrap();
        let tables = ["jobs", "schedule_marks", "daemon_memory"];
        let before: Vec<Vec<String>> = tables.iter().map(|t| dump_as(&old, &old, t)).collect();
        assert!(before[0].len() >= 8 && !before[1].is_empty() && !before[2].is_empty(), "the fixture has rows of each kind: {before:?}");
        Connection::open(dir.path().join("state.db")).unwrap().execute_batch(&fixture).unwrap();
        let log = JobLog::open(dir.path()).unwrap();
        let after: Vec<Vec<String>> = tables.iter().map(|t| dump_as(&log.conn, &old, t)).collect();
        assert_eq!(before, after, "every row is kept, unchanged");
        let requests: i64 = log.conn.query_row("SELECT count(*) FROM jobs WHERE request IS NOT NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(requests, 0, "an old job has no request recorded");
        let versions = dump(&log.conn, "schema_version");
        assert_eq!(versions.len() as i64, SCHEMA_VERSION, "{versions:?}");
        // The old rows read as before, and answer the new queries.
        let jobs = log.query(&Filter::default()).unwrap();
        assert_eq!(jobs.len(), before[0].len());
        // The fixture's CLI commands are all there, a restore among them.
        let kinds: std::collections::BTreeSet<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
        assert_eq!(kinds, ["backup", "check", "drill", "forget", "restore"].into(), "{jobs:?}");
        let backups: i64 = log.conn.query_row("SELECT count(*) FROM backup_logs", [], |r| r.get(0)).unwrap();
        assert_eq!(backups as usize, jobs.iter().filter(|j| j.kind == "backup").count());
        let totals = log.backup_totals().unwrap();
        assert_eq!(totals.last().unwrap().backups as i64, backups);
        // A new job goes in beside them; opening again changes nothing.
        let id = log
            .start(&NewJob {
                database: Some("app"),
                repository: None,
                kind: JobKind::Backup,
                classes: &[],
                trigger: Trigger::Manual,
                reason: None,
                actor: None,
                request: None,
            })
            .unwrap();
        assert!(id > jobs.iter().map(|j| j.id).max().unwrap());
        drop(log);
        let again = JobLog::open(dir.path()).unwrap();
        assert_eq!(dump(&again.conn, "schema_version"), versions);
    }

    #[test]
    fn a_store_newer_than_this_binary_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let log = JobLog::open(dir.path()).unwrap();
        log.conn.execute("INSERT INTO schema_version VALUES (?1, 'later', 'from the future')", [SCHEMA_VERSION + 1]).unwrap();
        let before = dump(&log.conn, "sqlite_master");
        drop(log);
        let err = JobLog::open(dir.path()).err().expect("refused").to_string();
        assert!(err.contains("newer lifeboat") && err.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{err}");
        let conn = Connection::open(dir.path().join("state.db")).unwrap();
        assert_eq!(dump(&conn, "sqlite_master"), before);
    }

    /// Inserts a finished job that started `days` ago.
    fn old_job(log: &JobLog, database: Option<&str>, kind: &str, status: &str, days: i64, snapshot: Option<&str>) -> i64 {
        let at = (Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string();
        log.conn
            .execute(
                "INSERT INTO jobs (database, kind, trigger, actor, started_at, finished_at, status, snapshot, host, pid)
                 VALUES (?1, ?2, 'schedule', 'root', ?3, ?3, ?4, ?5, 'h', 1)",
                params![database, kind, at, status, snapshot],
            )
            .unwrap();
        log.conn.last_insert_rowid()
    }

    #[test]
    fn retention_forgets_old_successes_keeps_failures_restores_and_drills_longer_and_the_newest_of_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = JobLog::open(dir.path()).unwrap();
        let keep = Duration::from_secs(10 * 86_400);
        let old_ok = old_job(&log, Some("app"), "backup", "ok", 30, None);
        let old_failed = old_job(&log, Some("app"), "backup", "failed", 30, None);
        let recent_failed = old_job(&log, Some("app"), "backup", "failed", 15, None);
        let recent_restore = old_job(&log, Some("app"), "restore", "ok", 15, None);
        let old_restore = old_job(&log, Some("app"), "restore", "ok", 25, None);
        let ok_past_keep = old_job(&log, Some("app"), "backup", "ok", 11, None);
        let old_drill = old_job(&log, Some("app"), "drill", "ok", 40, Some("s1"));
        let recent_drill = old_job(&log, Some("app"), "drill", "ok", 15, Some("s2"));
        let newest_check = old_job(&log, None, "check", "ok", 50, None);
        let past_keep_too = old_job(&log, Some("app"), "backup", "ok", 12, None);
        let only_backup_of_its_database = old_job(&log, Some("gone"), "backup", "ok", 100, None);
        let fresh = old_job(&log, Some("app"), "backup", "ok", 1, None);
        let _newer_restore = old_job(&log, Some("app"), "restore", "ok", 2, None);
        let _newer_drill = old_job(&log, Some("app"), "drill", "ok", 3, Some("s3"));
        let running = log
            .start(&NewJob {
                database: Some("db2"),
                repository: None,
                kind: JobKind::Backup,
                classes: &[],
                trigger: Trigger::Manual,
                reason: None,
                actor: None,
                request: None,
            })
            .unwrap();
        log.conn.execute("UPDATE jobs SET started_at = ?2 WHERE id = ?1", params![running, "2000-01-01T00:00:00Z"]).unwrap();
        let removed = log.apply_retention(keep, Timestamp::now()).unwrap();
        let left: Vec<i64> = log.query(&Filter::default()).unwrap().iter().map(|j| j.id).collect();
        for gone in [old_ok, old_failed, old_restore, ok_past_keep, past_keep_too, old_drill] {
            assert!(!left.contains(&gone), "job {gone} is past its keep: {left:?}");
        }
        assert_eq!(removed, 6);
        for kept in [recent_failed, recent_restore, recent_drill, newest_check, only_backup_of_its_database, fresh, running] {
            assert!(left.contains(&kept), "job {kept} is kept: {left:?}");
        }
        assert_eq!(log.apply_retention(keep, Timestamp::now()).unwrap(), 0, "nothing more to remove");
    }

    #[test]
    fn the_views_give_one_row_per_backup_and_totals_per_database() {
        let dir = tempfile::tempdir().unwrap();
        let log = JobLog::open(dir.path()).unwrap();
        for (database, trigger, status, added) in
            [("app", Trigger::Schedule, "ok", 10), ("app", Trigger::Manual, "failed", 0), ("crm", Trigger::Api, "ok", 5)]
        {
            let id = log
                .start(&NewJob {
                    database: Some(database),
                    repository: None,
                    kind: JobKind::Backup,
                    classes: &["daily".into()],
                    trigger,
                    reason: Some("why"),
                    actor: None,
                    request: None,
                })
                .unwrap();
            log.finish(id, &Outcome { status, bytes_added: Some(added), bytes_read: Some(100), ..Default::default() }).unwrap();
        }
        let drill = log
            .start(&NewJob {
                database: Some("app"),
                repository: None,
                kind: JobKind::Drill,
                classes: &[],
                trigger: Trigger::Schedule,
                reason: None,
                actor: None,
                request: None,
            })
            .unwrap();
        log.finish(drill, &Outcome { status: "ok", ..Default::default() }).unwrap();
        let rows = dump(
            &log.conn,
            "(SELECT id, database, trigger, started_by, reason, status, bytes, bytes_added, duration_seconds >= 0 FROM backup_logs)",
        );
        assert_eq!(
            rows,
            ["1|app|automated|schedule|why|ok|100|10|1", "2|app|manual|manual|why|failed|100|0|1", "3|crm|manual|api|why|ok|100|5|1"]
        );
        let stats = dump(
            &log.conn,
            "(SELECT database, backups, automated, manual, ok, failed, last_good_backup IS NOT NULL, bytes_added FROM backup_stats)",
        );
        assert_eq!(stats, ["(all)|3|1|2|2|1|1|15", "app|2|1|1|1|1|1|10", "crm|1|0|1|1|0|1|5"]);
    }
}
