use std::collections::BTreeMap;

use anyhow::Result;
use lifeboat_daemon::{BackupTotals, Filter, JobLog};
use serde::Serialize;

use crate::{commands::log, flags::Global, output};

/// One database's figures (or the total's, under the name `(all)`).
#[derive(Debug, Default, Serialize)]
struct Stats {
    database: String,
    backups: u64,
    automated: u64,
    manual: u64,
    ok: u64,
    failed: u64,
    /// Of the backups that ended, the share that ended ok (0-1); null before any ended.
    success_rate: Option<f64>,
    last_good_backup: Option<jiff::Timestamp>,
    last_good_age_seconds: Option<i64>,
    /// What the logged backups added to the repository (before any prune).
    bytes_added: u64,
    last_drill: Option<String>,
    last_drill_at: Option<jiff::Timestamp>,
    /// The newest ten backups' statuses, newest first.
    recent: Vec<String>,
}

impl Stats {
    /// The figures of `database` (`None`: every database, named `(all)`), from the totals of
    /// the `backup_stats` view and the log's newest jobs.
    fn read(log: &JobLog, database: Option<&str>, totals: Option<&BackupTotals>, now: jiff::Timestamp) -> Result<Self> {
        let jobs = |kind: &str| Filter { database: database.map(str::to_string), kind: Some(kind.into()), ..Default::default() };
        let totals = totals.cloned().unwrap_or_default();
        let last_good_backup = log.newest(Filter { status: Some("ok".into()), ..jobs("backup") })?.map(|j| j.started_at);
        let last_drill = log.newest(Filter { ended: true, ..jobs("drill") })?;
        let recent = log.query(&Filter { newest_first: true, limit: Some(10), ..jobs("backup") })?;
        let ended = totals.ok + totals.failed;
        Ok(Self {
            database: database.unwrap_or("(all)").to_string(),
            backups: totals.backups,
            automated: totals.automated,
            manual: totals.manual,
            ok: totals.ok,
            failed: totals.failed,
            success_rate: (ended > 0).then(|| totals.ok as f64 / ended as f64),
            last_good_backup,
            last_good_age_seconds: last_good_backup.map(|t| now.duration_since(t).as_secs()),
            bytes_added: totals.bytes_added,
            // Over every database, which drill was last says nothing; when is kept.
            last_drill: last_drill.as_ref().filter(|_| database.is_some()).map(|j| j.status.clone()),
            last_drill_at: last_drill.map(|j| j.started_at),
            recent: recent.into_iter().map(|j| j.status).collect(),
        })
    }
}

pub fn run(global: &Global) -> Result<i32> {
    let log = log::open(global)?;
    // So that a killed job counts as interrupted (see `JobLog::mark_interrupted`).
    let _ = log.mark_interrupted();
    let now = jiff::Timestamp::now();
    let totals = log.backup_totals()?;
    let of = |name: &str| totals.iter().find(|t| t.database == name);
    let per_database: BTreeMap<String, Stats> =
        log.databases()?.into_iter().map(|db| Ok((db.clone(), Stats::read(&log, Some(&db), of(&db), now)?))).collect::<Result<_>>()?;
    let total = Stats::read(&log, None, of("(all)"), now)?;
    if global.json {
        output::json(&serde_json::json!({ "databases": per_database.values().collect::<Vec<_>>(), "total": total }))?;
        return Ok(0);
    }
    println!(
        "{:<16}  {:>7}  {:>9}  {:>6}  {:>7}  {:<30}  {:>10}  LAST DRILL",
        "DATABASE", "BACKUPS", "AUTOMATED", "MANUAL", "SUCCESS", "LAST GOOD BACKUP", "ADDED"
    );
    for s in per_database.values().chain(std::iter::once(&total)) {
        let last_good = match (s.last_good_backup, s.last_good_age_seconds) {
            (Some(t), Some(age)) => {
                format!("{} ({} ago)", output::time(t), lifeboat_daemon::human(std::time::Duration::from_secs(age.max(0) as u64)))
            }
            _ => "never".into(),
        };
        println!(
            "{:<16}  {:>7}  {:>9}  {:>6}  {:>7}  {:<30}  {:>10}  {}",
            s.database,
            s.backups,
            s.automated,
            s.manual,
            s.success_rate.map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            last_good,
            output::size(s.bytes_added),
            s.last_drill.as_deref().unwrap_or("-")
        );
    }
    Ok(0)
}
