//! Health: is every configured database protected right now? Read from the repository (the
//! backups that exist), the job log (what failed) and the databases themselves. The same
//! report is printed by `lifeboat health` and written to `health.json` after every job.

use std::{path::Path, time::Duration};

use jiff::Timestamp;
use serde::Serialize;

use crate::{
    config::{AFTER_EACH_BACKUP, Config, DatabaseConfig, DrillWhen},
    error::{DaemonError, DaemonErrorKind, Result},
    joblog::{Filter, JobKind, JobLog, JobRecord},
    repos::{Repos, Target},
};

/// Ordered: a report's level is its worst finding's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    /// The exit code of `lifeboat health`: 0, 1, 2.
    pub fn exit_code(self) -> i32 {
        self as i32
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// Something wrong, with what to do about it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub level: Level,
    /// `None` for the repository.
    pub database: Option<String>,
    /// `backup_age`, `backup_failed`, `drill`, `reachable`, `repository`, `check`, `disk`.
    pub check: &'static str,
    pub message: String,
    pub hint: String,
}

/// Per database, what health is based on.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DatabaseHealth {
    pub name: String,
    pub level: Level,
    pub last_good_backup: Option<Timestamp>,
    pub age_seconds: Option<u64>,
    pub max_age_seconds: u64,
    pub backups: usize,
    pub last_drill: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HealthReport {
    pub level: Level,
    pub checked_at: Timestamp,
    pub databases: Vec<DatabaseHealth>,
    pub repository: RepositoryHealth,
    pub mirrors: Vec<MirrorHealth>,
    pub findings: Vec<Finding>,
}

/// A mirror's freshness: the newest backup of each database there.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MirrorHealth {
    pub url: String,
    pub reachable: bool,
    pub snapshots: usize,
    /// Per database, when its newest backup in the mirror was taken.
    pub newest: std::collections::BTreeMap<String, Timestamp>,
    pub last_check: Option<LastCheck>,
}

/// The repository's figures at the check.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RepositoryHealth {
    pub snapshots: usize,
    /// What its files take in its storage (a folder or a bucket); 0 when they cannot be listed.
    pub bytes: u64,
    pub last_check: Option<LastCheck>,
}

/// The newest finished `check` job of a repository, from the job log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LastCheck {
    pub status: String,
    pub at: Timestamp,
}

impl LastCheck {
    /// The newest finished check of the primary (`repository` `None`) or of a mirror.
    fn of(log: &JobLog, repository: Option<&str>) -> Result<Option<Self>> {
        let job = last_finished(log, JobKind::Check, repository)?;
        Ok(job.map(|job| Self { status: job.status, at: job.finished_at.unwrap_or(job.started_at) }))
    }
}

/// Failed backups in a row that make a warning critical.
const FAILURES_CRITICAL: usize = 3;

pub fn evaluate(config: &Config, repos: &Repos) -> Result<HealthReport> {
    let repo = &repos.primary;
    let log = JobLog::open(&config.state_dir)?;
    // Written down first, so that the log's queries see a killed job as interrupted. A log
    // this process may not write is still read: then such a job reads as it was left.
    let _ = log.mark_interrupted();
    let now = Timestamp::now();
    let mut findings = Vec::new();
    let entries = match lifeboat_engine::list(repo, None) {
        Ok(entries) => entries,
        Err(err) => {
            findings.push(Finding {
                level: Level::Critical,
                database: None,
                check: "repository",
                message: format!("the repository cannot be read: {err}"),
                hint: "check that its disk is mounted and the password is right; no backup can be taken until it can".into(),
            });
            Vec::new()
        }
    };
    repository_findings(config, &log, &mut findings)?;
    let mirrors: Vec<MirrorHealth> =
        (0..repos.mirror_count()).map(|i| mirror_health(config, repos, i, &log, now, &mut findings)).collect::<Result<_>>()?;
    let mut databases = Vec::new();
    for db in &config.databases {
        let own: Vec<&lifeboat_engine::BackupEntry> =
            entries.iter().filter(|e| e.summary.database == db.name && e.summary.class != lifeboat_engine::SAFETY_CLASS).collect();
        let last_good = own.iter().map(|e| e.time).max();
        let attempted = log.newest(own_jobs(db, JobKind::Backup, true))?.is_some();
        age_finding(db, last_good, attempted, now, &mut findings);
        job_findings(db, &log, now, &config.time_zone, &mut findings)?;
        count_findings(db, &own, now, &config.time_zone, &mut findings);
        coverage_finding(db, &own, &log, now, &mut findings)?;
        reachable_finding(db, &mut findings);
        let level = findings.iter().filter(|f| f.database.as_deref() == Some(&db.name)).map(|f| f.level).max().unwrap_or(Level::Ok);
        databases.push(DatabaseHealth {
            name: db.name.clone(),
            level,
            last_good_backup: last_good,
            age_seconds: last_good.map(|t| now.duration_since(t).as_secs().max(0) as u64),
            max_age_seconds: db.max_age.as_secs(),
            backups: own.len(),
            last_drill: log.newest(own_jobs(db, JobKind::Drill, false))?.map(|j| j.status),
        });
    }
    let repository =
        RepositoryHealth { snapshots: entries.len(), bytes: repo.stored_bytes().unwrap_or(0), last_check: LastCheck::of(&log, None)? };
    let level = findings.iter().map(|f| f.level).max().unwrap_or(Level::Ok);
    Ok(HealthReport { level, checked_at: now, databases, repository, mirrors, findings })
}

/// A mirror: reachable, its last copy, and each database's newest backup there against
/// `max_age`. A mirror behind is a warning: the primary still holds the backups.
fn mirror_health(
    config: &Config,
    repos: &Repos,
    index: usize,
    log: &JobLog,
    now: Timestamp,
    findings: &mut Vec<Finding>,
) -> Result<MirrorHealth> {
    let url = config.mirrors[index].url.clone();
    let last_check = LastCheck::of(log, Some(&url))?;
    let mut health = MirrorHealth { url: url.clone(), reachable: false, snapshots: 0, newest: Default::default(), last_check };
    let entries = repos
        .get(Target::Mirror(index))
        .map_err(|e| e.to_string())
        .and_then(|m| lifeboat_engine::list(&m, None).map_err(|e| e.to_string()));
    let entries = match entries {
        Ok(entries) => entries,
        Err(err) => {
            repos.reset(Target::Mirror(index));
            findings.push(Finding {
                level: Level::Warning,
                database: None,
                check: "mirror",
                message: format!("mirror {url} cannot be read: {}", err.lines().next().unwrap_or_default()),
                hint: "check that its disk or server is up; backups go on, and the mirror gets them all once it is back".into(),
            });
            return Ok(health);
        }
    };
    health.reachable = true;
    health.snapshots = entries.len();
    for e in entries.iter().filter(|e| e.summary.class != lifeboat_engine::SAFETY_CLASS) {
        let newest = health.newest.entry(e.summary.database.clone()).or_insert(e.time);
        *newest = (*newest).max(e.time);
    }
    if let Some(copy) = last_failed(log, JobKind::Copy, Some(&url))? {
        findings.push(Finding {
            level: Level::Warning,
            database: None,
            check: "mirror",
            message: format!("the last copy to mirror {url} failed: {}", copy.error.as_deref().unwrap_or_default()),
            hint: "it is retried after the next backup; `lifeboat copy --all --to ...` copies now".into(),
        });
    }
    if let Some(check) = last_failed(log, JobKind::Check, Some(&url))? {
        findings.push(Finding {
            level: Level::Warning,
            database: None,
            check: "check",
            message: format!("the last check of mirror {url} found damage: {}", check.error.as_deref().unwrap_or_default()),
            hint: format!("run `lifeboat check --read-data --repo {url}`; the primary still holds the backups"),
        });
    }
    for db in &config.databases {
        let stale = match health.newest.get(&db.name) {
            None => Some("has no backup".to_string()),
            Some(t) => {
                let age = Duration::try_from(now.duration_since(*t)).unwrap_or_default();
                (age > db.max_age).then(|| format!("has its newest backup from {} ago", human(age)))
            }
        };
        if let Some(stale) = stale {
            findings.push(Finding {
                level: Level::Warning,
                database: Some(db.name.clone()),
                check: "mirror",
                message: format!("`{}` {stale} in mirror {url}", db.name),
                hint: "see `lifeboat log --status failed` for the copies; `lifeboat copy --all --to ...` copies now".into(),
            });
        }
    }
    Ok(health)
}

/// The check of a new database whose first backup has not been tried yet: shown in health,
/// never alerted (a daemon's first start is not an incident).
pub const FIRST_BACKUP_PENDING: &str = "first_backup_pending";

fn age_finding(db: &DatabaseConfig, last_good: Option<Timestamp>, attempted: bool, now: Timestamp, findings: &mut Vec<Finding>) {
    let max = db.max_age;
    let (level, check, message) = match last_good {
        // Not yet tried (a new database): a warning until its first backup has had its chance
        // (not news for alerts: see FIRST_BACKUP_PENDING).
        None if !attempted => {
            (Level::Warning, FIRST_BACKUP_PENDING, "has no backup yet; its first is due at its next scheduled slot".to_string())
        }
        None => (Level::Critical, "backup_age", "has no backup at all".to_string()),
        Some(t) => {
            let age = Duration::try_from(now.duration_since(t)).unwrap_or_default();
            if age > max * 2 {
                (Level::Critical, "backup_age", format!("newest backup is {} old, more than twice max_age ({})", human(age), human(max)))
            } else if age > max {
                (Level::Warning, "backup_age", format!("newest backup is {} old, more than max_age ({})", human(age), human(max)))
            } else {
                return;
            }
        }
    };
    findings.push(Finding {
        level,
        database: Some(db.name.clone()),
        check,
        message: format!("`{}` {message}", db.name),
        hint: format!("see `lifeboat log --db {0} --status failed`; take one now with `lifeboat backup --config FILE {0}`", db.name),
    });
}

/// The jobs of `kind` for `db` (only those that ended when `ended`), for [`JobLog::newest`].
fn own_jobs(db: &DatabaseConfig, kind: JobKind, ended: bool) -> Filter {
    Filter { database: Some(db.name.clone()), kind: Some(kind), ended, ..Default::default() }
}

fn job_findings(db: &DatabaseConfig, log: &JobLog, now: Timestamp, tz: &jiff::tz::TimeZone, findings: &mut Vec<Finding>) -> Result<()> {
    let failed = log.in_a_row(own_jobs(db, JobKind::Backup, true), "failed")?;
    let failed_in_a_row = failed.len();
    if let Some(last) = failed.first() {
        findings.push(Finding {
            level: if failed_in_a_row >= FAILURES_CRITICAL { Level::Critical } else { Level::Warning },
            database: Some(db.name.clone()),
            check: "backup_failed",
            message: format!(
                "the last {} of `{}` failed: {}",
                if failed_in_a_row == 1 { "backup".to_string() } else { format!("{failed_in_a_row} backups") },
                db.name,
                last.error.as_deref().unwrap_or("no error recorded").lines().next().unwrap_or_default()
            ),
            hint: format!("`lifeboat log --db {} --status failed` has every error", db.name),
        });
    }
    let Some(drill) = &db.drill else { return Ok(()) };
    match log.newest(own_jobs(db, JobKind::Drill, true))? {
        Some(job) if job.status == "failed" => findings.push(Finding {
            level: Level::Critical,
            database: Some(db.name.clone()),
            check: "drill",
            message: format!("the last restore drill of `{}` failed: {}", db.name, job.error.as_deref().unwrap_or_default()),
            hint: format!(
                "run `lifeboat verify latest --db {}` to see what does not restore; restore an older backup if you need one",
                db.name
            ),
        }),
        Some(job) => {
            let DrillWhen::Schedule(drill) = drill else { return Ok(()) };
            // Overdue when a whole interval beyond the next slot after it has passed.
            let due = drill.next_after(job.started_at, tz).and_then(|next| drill.next_after(next, tz));
            if due.is_some_and(|due| due < now) {
                findings.push(Finding {
                    level: Level::Warning,
                    database: Some(db.name.clone()),
                    check: "drill",
                    message: format!("the last restore drill of `{}` ran at {}; two were due since", db.name, job.started_at),
                    hint: "check that the daemon is running (`systemctl status lifeboat`)".into(),
                });
            }
        }
        None => {}
    }
    Ok(())
}

/// A backup may wait this long for its drill before health says no drill covers it.
const DRILL_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The newest backup older than [`DRILL_GRACE`] that no passed drill covers (one of its own,
/// or of a backup with the same content): a warning, as "proven to restore" no longer holds
/// for it. Not for a database whose drills are off on purpose.
fn coverage_finding(
    db: &DatabaseConfig,
    own: &[&lifeboat_engine::BackupEntry],
    log: &JobLog,
    now: Timestamp,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    if db.drill.is_none() {
        return Ok(());
    }
    let Some(entry) = own.iter().filter(|e| now.duration_since(e.time) > DRILL_GRACE).max_by_key(|e| e.time) else { return Ok(()) };
    if !log.has_passed_drill(&entry.id)? {
        findings.push(Finding {
            level: Level::Warning,
            database: Some(db.name.clone()),
            check: "drill",
            message: format!(
                "backup {} of `{}` (taken {}) is more than a day old and no restore drill covers it",
                entry.short_id, db.name, entry.time
            ),
            hint: format!(
                "run `lifeboat verify {} --config …`, or let the daemon drill after each backup (`drill = \"{AFTER_EACH_BACKUP}\"`)",
                entry.short_id
            ),
        });
    }
    Ok(())
}

/// Per class with a schedule and a count to keep: as many backups as its slots since its
/// first backup allow (24 hourly once it has run a day), one short allowed for the slot under
/// way. Fewer means slots were missed or backups removed.
fn count_findings(
    db: &DatabaseConfig,
    own: &[&lifeboat_engine::BackupEntry],
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
    findings: &mut Vec<Finding>,
) {
    for (class, cron) in &db.backups {
        let Some(lifeboat_engine::ClassRule::Count(keep)) = db.retention.classes.get(class).copied() else { continue };
        let present: Vec<&&lifeboat_engine::BackupEntry> = own.iter().filter(|e| e.classes().contains(&class.as_str())).collect();
        let Some(first) = present.iter().map(|e| e.time).min() else { continue };
        let mut slots = 1;
        let mut at = first;
        while slots <= keep {
            match cron.next_after(at, tz) {
                Some(next) if next <= now => {
                    slots += 1;
                    at = next;
                }
                _ => break,
            }
        }
        let expected = slots.min(keep) as usize;
        if present.len() + 1 < expected {
            findings.push(Finding {
                level: Level::Warning,
                database: Some(db.name.clone()),
                check: "class_count",
                message: format!("`{}` has {} {class} backups where its schedule and retention expect {expected}", db.name, present.len()),
                hint: format!("see `lifeboat log --db {}` for missed or failed slots", db.name),
            });
        }
    }
}

fn reachable_finding(db: &DatabaseConfig, findings: &mut Vec<Finding>) {
    let probe = lifeboat_engine::open_database(db.url.expose()).and_then(|d| d.probe());
    let Err(err) = probe else { return };
    let problem = err.to_string().lines().next().unwrap_or_default().to_string();
    findings.push(Finding {
        level: Level::Critical,
        database: Some(db.name.clone()),
        check: "reachable",
        message: format!("`{}` cannot be read: {problem}", db.name),
        hint: "check the url in the configuration, and that the database is there and its server up".into(),
    });
}

/// The newest finished job of `kind` on the primary (`repository` `None`) or a mirror.
fn last_finished(log: &JobLog, kind: JobKind, repository: Option<&str>) -> Result<Option<JobRecord>> {
    log.newest(Filter { kind: Some(kind), repository: Some(repository.map(str::to_string)), ended: true, ..Default::default() })
}

/// The newest finished job of `kind` on `repository`, when it failed.
fn last_failed(log: &JobLog, kind: JobKind, repository: Option<&str>) -> Result<Option<JobRecord>> {
    Ok(last_finished(log, kind, repository)?.filter(|j| j.status == "failed"))
}

fn repository_findings(config: &Config, log: &JobLog, findings: &mut Vec<Finding>) -> Result<()> {
    if let Some(check) = last_failed(log, JobKind::Check, None)? {
        findings.push(Finding {
            level: Level::Critical,
            database: None,
            check: "check",
            message: format!("the last repository check found damage: {}", check.error.as_deref().unwrap_or_default()),
            hint: "run `lifeboat check --read-data` to see which snapshots are affected".into(),
        });
    }
    // A folder's disk can fill up; a bucket has no such figure to read.
    let Ok(lifeboat_engine::Location::Local(path)) = config.repository.location() else { return Ok(()) };
    if let Some(free) = free_fraction(&path) {
        let level = if free < 0.05 {
            Level::Critical
        } else if free < 0.10 {
            Level::Warning
        } else {
            return Ok(());
        };
        findings.push(Finding {
            level,
            database: None,
            check: "disk",
            message: format!("the repository's disk has {:.1}% free", free * 100.0),
            hint: "free space, or lower retention and run `lifeboat forget --prune`; a full disk fails every backup".into(),
        });
    }
    Ok(())
}

/// The fraction of the file system holding `path` that is free, for a local repository.
fn free_fraction(path: &Path) -> Option<f64> {
    lifeboat_engine::disk::space(path).map(|(free, total)| free as f64 / total as f64)
}

/// `2h 5m`, `3d 4h`, `45s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Writes `report` to `health.json` in `dir`, atomically (a reader never sees half a file),
/// readable by this user only, like everything in the state directory.
pub fn write(dir: &Path, report: &HealthReport) -> Result<()> {
    let path = dir.join("health.json");
    let partial = dir.join(".health.json.partial");
    let text = serde_json::to_vec_pretty(report).expect("the report serializes");
    crate::joblog::write_private(&partial, &text).and_then(|()| std::fs::rename(&partial, &path)).map_err(|e| {
        DaemonError::new(
            DaemonErrorKind::State,
            format!("cannot write {}", path.display()),
            "check the state directory's permissions and free space",
        )
        .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::joblog::{NewJob, Outcome, Trigger};

    fn entry(id: &str, hours_ago: i64) -> lifeboat_engine::BackupEntry {
        lifeboat_engine::BackupEntry {
            id: id.into(),
            short_id: id.into(),
            time: Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago),
            hostname: "h".into(),
            tags: Vec::new(),
            summary: Default::default(),
            added_bytes: 0,
        }
    }

    fn drilled(log: &JobLog, snapshot: &str) {
        let job = NewJob {
            database: Some("app"),
            repository: None,
            kind: JobKind::Drill,
            classes: &[],
            trigger: Trigger::Schedule,
            reason: None,
            actor: None,
            request: None,
        };
        let id = log.start(&job).unwrap();
        log.finish(id, &Outcome { status: "ok", snapshot: Some(snapshot.into()), ..Default::default() }).unwrap();
    }

    #[test]
    fn a_backup_older_than_a_day_that_no_drill_covers_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(
            "[repository]\nurl = \"repo\"\n[[databases]]\nname = \"app\"\nurl = \"app.db\"\n",
            &dir.path().join("lifeboat.toml"),
        )
        .unwrap();
        let db = &config.databases[0];
        let log = JobLog::open(&dir.path().join("state")).unwrap();
        let (old, older, fresh) = (entry("old", 30), entry("older", 50), entry("fresh", 1));
        let own = [&older, &old, &fresh];
        let findings = |log: &JobLog, db: &DatabaseConfig| {
            let mut found = Vec::new();
            coverage_finding(db, &own, log, Timestamp::now(), &mut found).unwrap();
            found
        };
        // The newest backup past a day is the one that must be proven; the fresh one may wait.
        let found = findings(&log, db);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("backup old ") && found[0].level == Level::Warning, "{:?}", found[0]);
        drilled(&log, "older");
        assert_eq!(findings(&log, db).len(), 1, "a drill of another backup does not cover it");
        drilled(&log, "old");
        assert!(findings(&log, db).is_empty());
        // Drills turned off on purpose: no warning.
        let off = DatabaseConfig { drill: None, ..db.clone() };
        assert!(findings(&JobLog::open(&dir.path().join("other")).unwrap(), &off).is_empty());
    }
}
