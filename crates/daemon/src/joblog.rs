//! The job log: one row per job (backup, drill, check, forget, prune, copy) in `state.db`, an
//! SQLite file in the state directory, written by the daemon and by CLI commands given a
//! config or `LIFEBOAT_STATE_DIR`. Several processes write it at once (WAL, a busy timeout).
//!
//! A row is written when the job starts (`running`) and completed when it ends, so a job whose
//! process was killed is still there: the next daemon start marks it `interrupted`.

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

/// What started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// A job about to start.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// `None` for jobs on the whole repository (check, prune).
    pub database: Option<&'a str>,
    /// The mirror it works on (its URL), `None` for the primary repository.
    pub repository: Option<&'a str>,
    pub kind: &'a str,
    pub classes: &'a [String],
    pub trigger: Trigger,
    pub reason: Option<&'a str>,
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
#[derive(Debug, Clone, Serialize)]
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
    pub host: String,
    pub pid: u32,
    /// When the process started (clock ticks since boot, from `/proc`): tells the job's own
    /// process from a later one that got the same pid.
    #[serde(skip)]
    pub pid_start: Option<u64>,
}

impl JobRecord {
    /// Whether the process that runs this job is still there: its pid exists and, when its
    /// start time was recorded, it is the same process (pids are reused).
    fn process_alive(&self) -> bool {
        match (process_start(self.pid), self.pid_start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => lifeboat_engine::process_exists(i64::from(self.pid)),
        }
    }

    pub fn seconds(&self) -> Option<f64> {
        self.finished_at.map(|end| end.duration_since(self.started_at).as_secs_f64())
    }
}

/// Which rows to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub database: Option<String>,
    pub since: Option<Timestamp>,
    pub status: Option<String>,
    pub kind: Option<String>,
}

pub struct JobLog {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = r"
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
CREATE INDEX IF NOT EXISTS jobs_by_database ON jobs (database, started_at);
CREATE TABLE IF NOT EXISTS schedule_marks (key TEXT PRIMARY KEY, last_slot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daemon_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Columns added after the first release, each with its type: added to an older job log when
/// it is opened (its rows keep NULL there).
const ADDED_COLUMNS: [(&str, &str); 3] = [("pid_start", "INTEGER"), ("content_key", "TEXT"), ("covered_by", "TEXT")];

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
        let conn = Connection::open(&path).map_err(|e| DaemonError::state(format!("cannot open the job log {}", path.display()), e))?;
        // One an older version left readable by others is made private (never the reverse).
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        conn.busy_timeout(Duration::from_secs(10)).map_err(|e| DaemonError::state("setting the job log's busy timeout", e))?;
        conn.pragma_update(None, "journal_mode", "wal").map_err(|e| DaemonError::state(format!("opening {}", path.display()), e))?;
        conn.execute_batch(SCHEMA).map_err(|e| DaemonError::state(format!("creating the job log in {}", path.display()), e))?;
        for (column, kind) in ADDED_COLUMNS {
            let present: bool = conn
                .query_row("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = ?1", [column], |r| r.get(0))
                .map_err(|e| DaemonError::state("reading the job log's columns", e))?;
            if !present {
                // Two processes may upgrade at once: the loser's "duplicate column" is fine.
                let _ = conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"));
            }
        }
        Ok(Self { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `job` starts now; returns its id.
    pub fn start(&self, job: &NewJob) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO jobs (database, kind, classes, trigger, actor, reason, started_at, status, host, pid, repository, pid_start)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10, ?11)",
                params![
                    job.database,
                    job.kind,
                    job.classes.join(","),
                    job.trigger.as_str(),
                    actor(),
                    job.reason,
                    Timestamp::now().to_string(),
                    lifeboat_engine::host_name(),
                    std::process::id(),
                    job.repository,
                    process_start(std::process::id()).map(|t| t as i64)
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
    /// already (see [`JobLog::query`]); this writes it down.
    pub fn mark_interrupted(&self) -> Result<usize> {
        let running = self.query(&Filter { status: Some("interrupted".into()), ..Default::default() })?;
        let mut marked = 0;
        for job in running.iter().filter(|j| j.finished_at.is_none()) {
            self.conn
                .execute(
                    "UPDATE jobs SET status = 'interrupted', finished_at = ?2, error = ?3 WHERE id = ?1 AND status = 'running'",
                    params![job.id, Timestamp::now().to_string(), gone(job.pid)],
                )
                .map_err(|e| DaemonError::state("marking interrupted jobs", e))?;
            marked += 1;
        }
        Ok(marked)
    }

    /// The rows `filter` selects, oldest first.
    pub fn query(&self, filter: &Filter) -> Result<Vec<JobRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, database, kind, classes, trigger, actor, reason, started_at, finished_at, status, snapshot,
                        bytes_read, bytes_added, rows, error, host, pid, lock_wait_seconds, repository, pid_start,
                        covered_by
                 FROM jobs
                 WHERE (?1 IS NULL OR database = ?1) AND (?2 IS NULL OR started_at >= ?2)
                   AND (?3 IS NULL OR status = ?3 OR (?3 = 'interrupted' AND status = 'running'))
                   AND (?4 IS NULL OR kind = ?4)
                 ORDER BY id",
            )
            .map_err(|e| DaemonError::state("reading the job log", e))?;
        let since = filter.since.map(|t| t.to_string());
        let rows = stmt
            .query_map(params![filter.database, since, filter.status, filter.kind], |r| {
                let time =
                    |i: usize| -> rusqlite::Result<Option<Timestamp>> { Ok(r.get::<_, Option<String>>(i)?.and_then(|t| t.parse().ok())) };
                let count = |i: usize| -> rusqlite::Result<Option<u64>> { Ok(r.get::<_, Option<i64>>(i)?.map(|n| n.max(0) as u64)) };
                let classes: String = r.get(3)?;
                Ok(JobRecord {
                    id: r.get(0)?,
                    database: r.get(1)?,
                    kind: r.get(2)?,
                    classes: classes.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
                    trigger: r.get(4)?,
                    actor: r.get(5)?,
                    reason: r.get(6)?,
                    started_at: time(7)?.unwrap_or_default(),
                    finished_at: time(8)?,
                    status: r.get(9)?,
                    snapshot: r.get(10)?,
                    bytes_read: count(11)?,
                    bytes_added: count(12)?,
                    rows: count(13)?,
                    error: r.get(14)?,
                    host: r.get(15)?,
                    pid: r.get(16)?,
                    lock_wait_seconds: r.get(17)?,
                    repository: r.get(18)?,
                    pid_start: r.get::<_, Option<i64>>(19)?.map(|t| t as u64),
                    covered_by: r.get(20)?,
                })
            })
            .map_err(|e| DaemonError::state("reading the job log", e))?;
        let this_host = lifeboat_engine::host_name();
        let mut jobs = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| DaemonError::state("reading the job log", e))?;
        // A job still `running` whose process is gone (or is another process that got its
        // pid since) was interrupted, whoever reads the log.
        for job in jobs.iter_mut().filter(|j| j.status == "running" && j.host == this_host && !j.process_alive()) {
            job.status = "interrupted".into();
            job.error = Some(gone(job.pid));
        }
        if let Some(status) = &filter.status {
            jobs.retain(|j| &j.status == status);
        }
        Ok(jobs)
    }

    /// The newest restore drill of `snapshot` (a full id) that came to a verdict; `None` when
    /// none did. Ids are hashes of the snapshot's content, so a drill of the same id in any
    /// repository drilled these very bytes.
    pub fn newest_drill(&self, snapshot: &str) -> Result<Option<DrillRecord>> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT finished_at, status, covered_by FROM jobs
                 WHERE kind = 'drill' AND status IN ('ok', 'failed') AND snapshot = ?1 AND finished_at IS NOT NULL
                 ORDER BY finished_at DESC LIMIT 1",
                [snapshot],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| DaemonError::state("reading the job log", e))?;
        Ok(row.and_then(|(at, status, covered_by)| Some(DrillRecord { at: at.parse().ok()?, passed: status == "ok", covered_by })))
    }

    /// The newest passed drill that proved `content_key` (see `lifeboat_engine::content_key`),
    /// of whichever snapshot: its snapshot. A backup with that key is covered by it.
    pub fn drill_proving(&self, content_key: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT coalesce(covered_by, snapshot) FROM jobs
                 WHERE kind = 'drill' AND status = 'ok' AND content_key = ?1 AND snapshot IS NOT NULL
                 ORDER BY finished_at DESC LIMIT 1",
                [content_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| DaemonError::state("reading the job log", e))
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
                kind: "backup",
                classes: &classes,
                trigger: Trigger::Schedule,
                reason: None,
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
            kind: "backup",
            classes: &[],
            trigger: Trigger::Manual,
            reason: Some("r"),
        })
        .unwrap();
        assert_eq!(log.mark_interrupted().unwrap(), 0);
    }
}
