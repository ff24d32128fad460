//! The questions the front ends ask of the job log, each answered by SQL that an index of
//! `schema.rs` serves, so a log of 100,000 jobs answers as fast as one of ten. Only `scan`
//! walks rows; everything that can be counted or grouped is counted and grouped by SQLite.

use std::ops::ControlFlow;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, params, types::Value};

use super::{DrillRecord, JobKind, JobLog, JobRecord, gone};
use crate::error::{DaemonError, Result};

/// Which rows to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub database: Option<String>,
    pub since: Option<Timestamp>,
    /// `interrupted` includes the jobs still marked `running` whose process is gone.
    pub status: Option<String>,
    pub kind: Option<JobKind>,
    /// The repository the job worked on: `Some(None)` the primary, `Some(Some(url))` a mirror;
    /// `None` either.
    pub repository: Option<Option<String>>,
    /// Only jobs that ended (a `running` job whose process is gone ended: interrupted).
    pub ended: bool,
    pub newest_first: bool,
    /// At most this many rows (of those that pass every condition above).
    pub limit: Option<usize>,
}

impl Filter {
    /// The `WHERE` clause and its values: only the conditions given, so that SQLite can pick
    /// the index that serves them (a `?1 IS NULL OR …` condition would defeat every index).
    fn sql(&self) -> (String, Vec<Value>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut condition = |clause: &str, value: Value| {
            values.push(value);
            clauses.push(clause.replace('?', &format!("?{}", values.len())));
        };
        if let Some(database) = &self.database {
            condition("database = ?", database.clone().into());
        }
        if let Some(kind) = &self.kind {
            condition("kind = ?", kind.as_str().to_string().into());
        }
        if let Some(repository) = &self.repository {
            condition("repository IS ?", repository.clone().map_or(Value::Null, Value::from));
        }
        if let Some(since) = self.since {
            condition("started_at >= ?", since.to_string().into());
        }
        match self.status.as_deref() {
            // Read with the running ones; `scan` keeps those whose process is gone.
            Some("interrupted") => clauses.push("status IN ('interrupted', 'running')".into()),
            Some(status) => condition("status = ?", status.to_string().into()),
            None => {}
        }
        let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        (clause, values)
    }

    /// Whether `job` (its status as readers see it) passes the conditions SQL cannot decide.
    fn keeps(&self, job: &JobRecord) -> bool {
        self.status.as_ref().is_none_or(|s| &job.status == s) && (!self.ended || job.status != "running")
    }
}

/// Every column `JobRecord` reads, in the order of [`record`].
const COLUMNS: &str = "id, database, kind, classes, trigger, actor, reason, started_at, finished_at, status, snapshot,
     bytes_read, bytes_added, rows, error, host, pid, lock_wait_seconds, repository, pid_start, covered_by, request";

fn record(r: &Row) -> rusqlite::Result<JobRecord> {
    let time = |i: usize| -> rusqlite::Result<Option<Timestamp>> { Ok(r.get::<_, Option<String>>(i)?.and_then(|t| t.parse().ok())) };
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
        request: r.get::<_, Option<String>>(21)?.and_then(|json| serde_json::value::RawValue::from_string(json).ok()),
    })
}

/// How many jobs of a kind ended how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    pub kind: String,
    pub status: String,
    pub jobs: u64,
}

/// One row of the `backup_stats` view.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct BackupTotals {
    /// A database's name, or `(all)` for the row over every database.
    pub database: String,
    pub backups: u64,
    pub automated: u64,
    pub manual: u64,
    pub ok: u64,
    pub failed: u64,
    /// What the good backups added to the repository (before any prune).
    pub bytes_added: u64,
}

impl JobLog {
    /// Calls `each` with the rows `filter` selects (oldest first unless `newest_first`) until
    /// it breaks or `filter.limit` rows were given. Rows are read as they are given: a whole
    /// log is never held in memory.
    ///
    /// A job still `running` whose process on this host is gone (or is another process that
    /// got its pid since) is given as `interrupted`, whoever reads the log.
    pub fn scan(&self, filter: &Filter, mut each: impl FnMut(JobRecord) -> ControlFlow<()>) -> Result<()> {
        let (clause, values) = filter.sql();
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let failed = |e| DaemonError::state("reading the job log", e);
        let mut stmt = self.conn.prepare(&format!("SELECT {COLUMNS} FROM jobs {clause} ORDER BY id {order}")).map_err(failed)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values)).map_err(failed)?;
        let this_host = lifeboat_engine::host_name();
        let mut given = 0;
        while filter.limit.is_none_or(|limit| given < limit) {
            let Some(row) = rows.next().map_err(failed)? else { break };
            let mut job = record(row).map_err(failed)?;
            if job.status == "running" && job.host == this_host && !job.process_alive() {
                job.status = "interrupted".into();
                job.error = Some(gone(job.pid));
            }
            if !filter.keeps(&job) {
                continue;
            }
            given += 1;
            if each(job).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Calls `each` with the jobs `filter` selects, oldest first, as they are read; with
    /// `last`, only the newest `last` of them (still oldest first). The first error `each`
    /// returns ends the listing and is returned.
    pub fn listing<E: From<DaemonError>>(
        &self,
        filter: &Filter,
        last: Option<usize>,
        mut each: impl FnMut(JobRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut failed = None;
        let mut give = |job| match each(job) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                failed = Some(err);
                ControlFlow::Break(())
            }
        };
        match last {
            None => self.scan(filter, give)?,
            Some(n) => {
                let newest = self.query(&Filter { newest_first: true, limit: Some(n), ..filter.clone() })?;
                for job in newest.into_iter().rev() {
                    if give(job).is_break() {
                        break;
                    }
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// The rows `filter` selects, in its order.
    pub fn query(&self, filter: &Filter) -> Result<Vec<JobRecord>> {
        let mut jobs = Vec::new();
        self.scan(filter, |job| {
            jobs.push(job);
            ControlFlow::Continue(())
        })?;
        Ok(jobs)
    }

    /// The newest job `filter` selects.
    pub fn newest(&self, filter: Filter) -> Result<Option<JobRecord>> {
        let mut newest = None;
        self.scan(&Filter { newest_first: true, limit: Some(1), ..filter }, |job| {
            newest = Some(job);
            ControlFlow::Break(())
        })?;
        Ok(newest)
    }

    /// How many rows `filter`'s SQL conditions select (`running` ones as they are written).
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        let (clause, values) = filter.sql();
        let n: i64 = self
            .conn
            .query_row(&format!("SELECT count(*) FROM jobs {clause}"), rusqlite::params_from_iter(values), |r| r.get(0))
            .map_err(|e| DaemonError::state("counting the job log", e))?;
        Ok(n.max(0) as u64)
    }

    /// The newest jobs of `filter` in a row whose status is `status`, newest first.
    pub fn in_a_row(&self, filter: Filter, status: &str) -> Result<Vec<JobRecord>> {
        let mut run = Vec::new();
        self.scan(&Filter { newest_first: true, ..filter }, |job| {
            if job.status != status {
                return ControlFlow::Break(());
            }
            run.push(job);
            ControlFlow::Continue(())
        })?;
        Ok(run)
    }

    /// Per database and kind, the newest job that ended (`kinds` empty: every kind), oldest
    /// group first. Jobs on the whole repository (no database) are left out.
    pub fn newest_per_database(&self, kinds: &[JobKind], statuses: &[&str]) -> Result<Vec<JobRecord>> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let list = |column: &str, values: &[&str]| {
            if values.is_empty() {
                String::new()
            } else {
                let quoted: Vec<String> = values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
                format!("AND {column} IN ({})", quoted.join(", "))
            }
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE id IN (
                 SELECT max(id) FROM jobs WHERE database IS NOT NULL AND status <> 'running' {} {} GROUP BY database, kind
             ) ORDER BY id",
            list("kind", &kinds),
            list("status", statuses)
        );
        self.records(&sql)
    }

    /// Per database and set of classes, the newest backup that ended ok, oldest first: what a
    /// class's "last good backup" gauges read (the newest of the sets that hold the class).
    pub fn newest_good_backups(&self) -> Result<Vec<JobRecord>> {
        self.records(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE id IN (
                 SELECT max(id) FROM jobs WHERE kind = 'backup' AND status = 'ok' AND database IS NOT NULL GROUP BY database, classes
             ) ORDER BY id"
        ))
    }

    /// Job `id`, if the log has it.
    pub fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.conn
            .query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], record)
            .optional()
            .map_err(|e| DaemonError::state("reading the job log", e))
    }

    /// Every row `sql` (selecting [`COLUMNS`], taking no parameters) gives.
    fn records(&self, sql: &str) -> Result<Vec<JobRecord>> {
        let failed = |e| DaemonError::state("reading the job log", e);
        let mut stmt = self.conn.prepare(sql).map_err(failed)?;
        let rows = stmt.query_map([], record).map_err(failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
    }

    /// How many jobs of each kind ended how, and how many waited for a lock and how long in all.
    pub fn kind_counts(&self) -> Result<(Vec<KindCount>, u64, f64)> {
        let failed = |e| DaemonError::state("counting the job log", e);
        let mut stmt =
            self.conn.prepare("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status ORDER BY kind, status").map_err(failed)?;
        let counts = stmt
            .query_map([], |r| Ok(KindCount { kind: r.get(0)?, status: r.get(1)?, jobs: r.get::<_, i64>(2)?.max(0) as u64 }))
            .map_err(failed)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        let (waits, waited): (i64, f64) = self
            .conn
            .query_row("SELECT count(lock_wait_seconds), coalesce(sum(lock_wait_seconds), 0) FROM jobs", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(failed)?;
        Ok((counts, waits.max(0) as u64, waited))
    }

    /// The rows of the `backup_stats` view: one per database, then `(all)`.
    pub fn backup_totals(&self) -> Result<Vec<BackupTotals>> {
        let failed = |e| DaemonError::state("reading backup_stats", e);
        let mut stmt =
            self.conn.prepare("SELECT database, backups, automated, manual, ok, failed, bytes_added FROM backup_stats").map_err(failed)?;
        let n = |r: &Row, i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64) };
        let rows = stmt
            .query_map([], |r| {
                Ok(BackupTotals {
                    database: r.get(0)?,
                    backups: n(r, 1)?,
                    automated: n(r, 2)?,
                    manual: n(r, 3)?,
                    ok: n(r, 4)?,
                    failed: n(r, 5)?,
                    bytes_added: n(r, 6)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
    }

    /// Every database the log has a job of, by name.
    pub fn databases(&self) -> Result<Vec<String>> {
        let failed = |e| DaemonError::state("reading the job log", e);
        let mut stmt =
            self.conn.prepare("SELECT DISTINCT database FROM jobs WHERE database IS NOT NULL ORDER BY database").map_err(failed)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
    }

    /// Whether a restore drill of `snapshot` (a full id) passed.
    pub fn has_passed_drill(&self, snapshot: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM jobs WHERE snapshot = ?1 AND kind = 'drill' AND status = 'ok')", [snapshot], |r| {
                r.get(0)
            })
            .map_err(|e| DaemonError::state("reading the job log", e))
    }

    /// The newest restore drill of `snapshot` (a full id) that came to a verdict; `None` when
    /// none did. Ids are hashes of the snapshot's content, so a drill of the same id in any
    /// repository drilled these very bytes.
    pub fn newest_drill(&self, snapshot: &str) -> Result<Option<DrillRecord>> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT finished_at, status, covered_by FROM jobs
                 WHERE snapshot = ?1 AND kind = 'drill' AND status IN ('ok', 'failed') AND finished_at IS NOT NULL
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
                 WHERE content_key = ?1 AND kind = 'drill' AND status = 'ok' AND snapshot IS NOT NULL
                 ORDER BY finished_at DESC LIMIT 1",
                params![content_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| DaemonError::state("reading the job log", e))
    }
}
