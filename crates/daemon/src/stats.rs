//! `lifeboat stats` (and the API's figures): per database and over all of them, what the job
//! log says of backups and drills, from the `backup_stats` view and indexed queries.

use jiff::Timestamp;
use serde::Serialize;

use crate::{
    error::Result,
    joblog::{BackupTotals, Filter, JobKind, JobLog},
};

/// Every database's figures, by name, and the total.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatsReport {
    pub databases: Vec<Stats>,
    pub total: Stats,
}

/// One database's figures (or the total's, under the name `(all)`).
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// The database's row of the `backup_stats` view (`(all)` for the total).
    #[serde(flatten)]
    pub totals: BackupTotals,
    /// Of the backups that ended, the share that ended ok (0-1); null before any ended.
    pub success_rate: Option<f64>,
    pub last_good_backup: Option<Timestamp>,
    pub last_good_age_seconds: Option<i64>,
    pub last_drill: Option<String>,
    pub last_drill_at: Option<Timestamp>,
    /// The newest ten backups' statuses, newest first.
    pub recent: Vec<String>,
}

impl Stats {
    /// The figures of `database` (`None`: every database, named `(all)`), from the totals of
    /// the `backup_stats` view and the log's newest jobs.
    fn read(log: &JobLog, database: Option<&str>, totals: Option<&BackupTotals>, now: Timestamp) -> Result<Self> {
        let jobs = |kind: JobKind| Filter { database: database.map(str::to_string), kind: Some(kind), ..Default::default() };
        let totals =
            totals.cloned().unwrap_or_else(|| BackupTotals { database: database.unwrap_or("(all)").to_string(), ..Default::default() });
        let last_good_backup = log.newest(Filter { status: Some("ok".into()), ..jobs(JobKind::Backup) })?.map(|j| j.started_at);
        let last_drill = log.newest(Filter { ended: true, ..jobs(JobKind::Drill) })?;
        let recent = log.query(&Filter { newest_first: true, limit: Some(10), ..jobs(JobKind::Backup) })?;
        let ended = totals.ok + totals.failed;
        Ok(Self {
            success_rate: (ended > 0).then(|| totals.ok as f64 / ended as f64),
            last_good_backup,
            last_good_age_seconds: last_good_backup.map(|t| now.duration_since(t).as_secs()),
            // Over every database, which drill was last says nothing; when is kept.
            last_drill: last_drill.as_ref().filter(|_| database.is_some()).map(|j| j.status.clone()),
            last_drill_at: last_drill.map(|j| j.started_at),
            recent: recent.into_iter().map(|j| j.status).collect(),
            totals,
        })
    }
}

/// The figures of every database the log has a job of, and of all of them, as of `now`.
pub fn stats(log: &JobLog, now: Timestamp) -> Result<StatsReport> {
    // So that a killed job counts as interrupted (see `JobLog::mark_interrupted`); a log this
    // process may not write is still read.
    let _ = log.mark_interrupted();
    let totals = log.backup_totals()?;
    let of = |name: &str| totals.iter().find(|t| t.database == name);
    let databases = log.databases()?.iter().map(|db| Stats::read(log, Some(db), of(db), now)).collect::<Result<_>>()?;
    Ok(StatsReport { databases, total: Stats::read(log, None, of("(all)"), now)? })
}
