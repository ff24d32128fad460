use std::collections::BTreeMap;

use anyhow::Result;
use lifeboat_daemon::{Filter, JobRecord};
use serde::Serialize;

use crate::{commands::log, flags::Global, output};

/// One database's figures (or the total's, under the name `(all)`).
#[derive(Debug, Default, Serialize)]
struct Stats {
    database: String,
    backups: usize,
    automated: usize,
    manual: usize,
    ok: usize,
    failed: usize,
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
    fn add(&mut self, job: &JobRecord) {
        match job.kind.as_str() {
            "backup" => {
                self.backups += 1;
                if job.trigger == "schedule" {
                    self.automated += 1;
                } else {
                    self.manual += 1;
                }
                match job.status.as_str() {
                    "ok" => {
                        self.ok += 1;
                        self.last_good_backup = Some(job.started_at);
                        self.bytes_added += job.bytes_added.unwrap_or(0);
                    }
                    "failed" => self.failed += 1,
                    _ => {}
                }
                self.recent.insert(0, job.status.clone());
                self.recent.truncate(10);
            }
            "drill" if job.status != "running" => {
                self.last_drill = Some(job.status.clone());
                self.last_drill_at = Some(job.started_at);
            }
            _ => {}
        }
    }

    fn finish(&mut self, now: jiff::Timestamp) {
        let ended = self.ok + self.failed;
        self.success_rate = (ended > 0).then(|| self.ok as f64 / ended as f64);
        self.last_good_age_seconds = self.last_good_backup.map(|t| now.duration_since(t).as_secs());
    }
}

pub fn run(global: &Global) -> Result<i32> {
    let jobs = log::open(global)?.query(&Filter::default())?;
    let now = jiff::Timestamp::now();
    let mut per_database: BTreeMap<String, Stats> = BTreeMap::new();
    let mut total = Stats { database: "(all)".into(), ..Default::default() };
    for job in &jobs {
        let Some(db) = &job.database else { continue };
        per_database.entry(db.clone()).or_insert_with(|| Stats { database: db.clone(), ..Default::default() }).add(job);
        total.add(job);
    }
    total.last_drill = None;
    for stats in per_database.values_mut().chain(std::iter::once(&mut total)) {
        stats.finish(now);
    }
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
