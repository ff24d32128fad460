//! One job's work, start to end: record it in the job log, run it through the engine on the
//! job's own repository handle, record how it ended. Used by the daemon's workers and by the
//! CLI (for its manual jobs), so both log the same way.

use lifeboat_engine::{BackupRequest, CancelToken, DrillPlace, Repo};

use crate::{
    config::DatabaseConfig,
    error::Result,
    joblog::{JobKind, JobLog, NewJob, Outcome, Trigger},
    repos::{Repos, Target},
};

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A backup carrying these classes (the longest-lived first in its label), followed by
    /// the database's retention.
    Backup { classes: Vec<String> },
    /// A restore drill of this snapshot (the one a backup just wrote), or of the database's
    /// newest backup (a scheduled drill).
    Drill { snapshot: Option<String> },
    /// A check of `on` that also reads `percent` of the packs' data (0: structure only), a
    /// different part each time so that every pack is read in turn.
    Check { percent: u8, on: Target },
    /// Removes data no snapshot of `on` uses, under the exclusive lock.
    Prune { on: Target },
    /// Copies to the mirror every backup it lacks, then applies each database's retention
    /// there.
    Copy { mirror: usize },
}

impl Work {
    pub fn kind(&self) -> JobKind {
        match self {
            Work::Backup { .. } => JobKind::Backup,
            Work::Drill { .. } => JobKind::Drill,
            Work::Check { .. } => JobKind::Check,
            Work::Prune { .. } => JobKind::Prune,
            Work::Copy { .. } => JobKind::Copy,
        }
    }

    /// The repository it works on.
    pub fn target(&self) -> Target {
        match self {
            Work::Check { on, .. } | Work::Prune { on } => *on,
            Work::Copy { mirror } => Target::Mirror(*mirror),
            Work::Backup { .. } | Work::Drill { .. } => Target::Primary,
        }
    }
}

/// What every job needs besides its own work.
pub struct JobContext<'a> {
    pub repos: &'a Repos,
    /// Every configured database (a copy applies each one's retention on the mirror).
    pub databases: &'a [DatabaseConfig],
    pub cancel: &'a CancelToken,
    pub state_dir: &'a std::path::Path,
}

/// Runs `work` (for `database`, or on a whole repository) and logs it in the state
/// directory. Returns the outcome as logged; an error only when the log itself cannot be
/// written.
pub fn run(cx: &JobContext, database: Option<&DatabaseConfig>, work: &Work, trigger: Trigger) -> Result<Outcome> {
    let log = JobLog::open(cx.state_dir)?;
    let classes = match work {
        Work::Backup { classes } => classes.clone(),
        _ => Vec::new(),
    };
    let target = work.target();
    let mirror_url = cx.repos.mirror_url(target);
    let new = NewJob {
        database: database.map(|d| d.name.as_str()),
        repository: mirror_url,
        kind: work.kind(),
        classes: &classes,
        trigger,
        reason: None,
    };
    let job = log.begin(&new)?;
    let opened = cx.repos.get(target).map_err(|e| e.to_string());
    let repo = match opened.and_then(|repo| repo.for_job(cx.cancel.clone(), None).map_err(|e| e.to_string())) {
        Ok(repo) => repo,
        Err(err) => return job.end(Outcome::failed(err), &cx.repos.primary, cx.cancel, None),
    };
    let outcome = match (work, database) {
        (Work::Backup { classes }, Some(db)) => backup(&repo, db, classes),
        (Work::Drill { snapshot }, Some(db)) => drill(&repo, db, snapshot.as_deref(), &log),
        (Work::Check { percent, .. }, _) => check(&repo, *percent, &log),
        (Work::Prune { .. }, _) => match repo.prune() {
            Ok(freed) => Outcome { status: "ok", bytes_added: None, bytes_read: Some(freed), ..ok() },
            Err(err) => Outcome::failed(err),
        },
        (Work::Copy { .. }, _) => copy(cx, &repo, mirror_url.unwrap_or_default(), &log),
        (_, None) => Outcome::failed("a database job without a database"),
    };
    if outcome.status == "failed" {
        // A mirror that failed is opened afresh next time (it may have been replaced).
        cx.repos.reset(target);
    }
    // A job stopped by SIGTERM did not fail: it was interrupted, and left nothing behind.
    let outcome = job.end(outcome, &repo, cx.cancel, Some(interrupted_because(work)))?;
    // Retention follows a good backup, as a job of its own in the log: it is not part of the
    // backup's time, and a retention that fails does not make the backup fail.
    if let (Work::Backup { .. }, Some(db), "ok") = (work, database, outcome.status)
        && !cx.cancel.is_cancelled()
    {
        apply_retention(&repo, db, &log, None);
    }
    Ok(outcome)
}

/// Copies every backup of the primary that `mirror` lacks, then applies each database's
/// retention there.
fn copy(cx: &JobContext, mirror: &Repo, url: &str, log: &JobLog) -> Outcome {
    let primary = match cx.repos.primary.for_job(cx.cancel.clone(), None) {
        Ok(primary) => primary,
        Err(err) => return Outcome::failed(err),
    };
    let result = lifeboat_engine::list(&primary, None)
        .map_err(|e| e.to_string())
        .and_then(|entries| primary.copy_to(mirror, &entries.into_iter().map(|e| e.id).collect::<Vec<_>>()).map_err(|e| e.to_string()));
    match result {
        Ok(report) => {
            for db in cx.databases {
                apply_retention(mirror, db, log, Some(url));
            }
            Outcome { status: "ok", rows: Some(report.copied.len() as u64), ..ok() }
        }
        Err(err) => Outcome::failed(err),
    }
}

fn ok() -> Outcome {
    Outcome { status: "ok", ..Default::default() }
}

/// The label of a backup due for `classes`: the longest-lived of them.
fn label(classes: &[String]) -> String {
    crate::config::SCHEDULED_CLASSES
        .iter()
        .rev()
        .find(|c| classes.iter().any(|k| k == *c))
        .map(|c| c.to_string())
        .or_else(|| classes.first().cloned())
        .unwrap_or_else(|| "manual".into())
}

/// What a job stopped by SIGTERM left behind, in its kind's terms.
fn interrupted_because(work: &Work) -> String {
    let left = match work {
        Work::Backup { .. } => "no snapshot was written",
        Work::Prune { .. } => {
            "prune removes packs only once the new index is written, so nothing was lost; the next prune finishes the job"
        }
        Work::Copy { .. } => "the mirror got no partial snapshot; the next copy sends what is missing",
        _ => "nothing was changed",
    };
    format!("stopped by SIGTERM before it finished; {left}")
}

fn backup(repo: &Repo, db: &DatabaseConfig, classes: &[String]) -> Outcome {
    let result = (|| -> std::result::Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
        let database = lifeboat_engine::open_database(db.url.expose())?;
        let source = database.source(&db.capture_options())?;
        let class = label(classes);
        let request = BackupRequest {
            name: Some(db.name.clone()),
            also_classes: classes.iter().filter(|c| **c != class).cloned().collect(),
            class,
            reason: None,
            tags: Vec::new(),
            source_label: database.label(),
        };
        Ok(Outcome::of_backup(&lifeboat_engine::backup(repo, source.as_ref(), &request)?))
    })();
    result.unwrap_or_else(Outcome::failed)
}

/// The database's class rules, applied to `repo` (the primary after a backup, or the mirror
/// at `mirror` after a copy), logged as a `forget` job.
fn apply_retention(repo: &Repo, db: &DatabaseConfig, log: &JobLog, mirror: Option<&str>) {
    let new = NewJob {
        database: Some(&db.name),
        repository: mirror,
        kind: JobKind::Forget,
        classes: &[],
        trigger: Trigger::Schedule,
        reason: None,
    };
    let Ok(id) = log.start(&new) else {
        return;
    };
    let outcome = match lifeboat_engine::forget_plan(repo, Some(&db.name), &db.retention)
        .and_then(|plan| lifeboat_engine::forget(repo, &plan, false))
    {
        Ok((removed, _)) => Outcome { status: "ok", rows: Some(removed as u64), ..ok() },
        Err(err) => Outcome::failed(err),
    };
    let _ = log.finish(id, &outcome);
}

/// A restore drill of `snapshot` (default: the database's newest backup), at low priority (it must not slow the
/// application or the next backup). A backup whose content a passed drill already proved
/// (an unchanged database backed up again) is covered by that drill, and logged so.
fn drill(repo: &Repo, db: &DatabaseConfig, snapshot: Option<&str>, log: &JobLog) -> Outcome {
    lifeboat_engine::lower_this_thread();
    let entry = match lifeboat_engine::resolve(repo, snapshot.unwrap_or("latest"), Some(&db.name)) {
        Ok(entry) => entry,
        Err(err) => return Outcome { status: "skipped", error: Some(format!("nothing to drill: {err}")), ..Default::default() },
    };
    let (key, rows) = match lifeboat_engine::content_key(repo, &entry) {
        Ok(found) => found,
        Err(err) => return Outcome { snapshot: Some(entry.id), ..Outcome::failed(err) },
    };
    if let Ok(Some(proven)) = log.drill_proving(&key) {
        let rows = Some(rows);
        return Outcome {
            status: "ok",
            snapshot: Some(entry.id),
            rows,
            content_key: Some(key),
            covered_by: Some(proven),
            ..Default::default()
        };
    }
    let place = DrillPlace { scratch: db.scratch.as_deref(), live: Some(db.url.expose()) };
    match lifeboat_engine::verify(repo, &entry, place, None) {
        Ok(report) => Outcome::of_drill(&report),
        Err(err) => Outcome { snapshot: Some(entry.id), ..Outcome::failed(err) },
    }
}

fn check(repo: &Repo, percent: u8, log: &JobLog) -> Outcome {
    let result = match percent {
        0 => repo.check(false),
        100.. => repo.check(true),
        percent => {
            // 10% → ten parts; the part follows the checks already logged, so a week of daily
            // checks at 15% reads every pack.
            let parts = (100 / u32::from(percent)).max(1);
            let done = log.count(&crate::joblog::Filter { kind: Some(JobKind::Check), ..Default::default() }).unwrap_or(0);
            repo.check_part((done as u32 % parts) + 1, parts)
        }
    };
    result.map_or_else(Outcome::failed, |report| Outcome::of_check(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two backups side by side, each with its own token under the daemon's: cancelling one
    /// (mid-way, once its data is being written) stops it alone; the other completes, and its
    /// backup restores.
    #[test]
    fn cancelling_one_job_leaves_the_other_running_and_its_backup_restores() {
        let dir = tempfile::tempdir().unwrap();
        for (name, megabytes) in [("big", 150), ("other", 60)] {
            let conn = rusqlite::Connection::open(dir.path().join(format!("{name}.db"))).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
                 WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {})
                 INSERT INTO t SELECT n, randomblob(1000000) FROM g;",
                megabytes
            ))
            .unwrap();
        }
        let config = crate::Config::parse(
            "[repository]\nurl = \"repo\"\n[[databases]]\nname = \"big\"\nurl = \"big.db\"\n[[databases]]\nname = \"other\"\nurl = \"other.db\"\n",
            &dir.path().join("lifeboat.toml"),
        )
        .unwrap();
        let primary = Repo::init(&lifeboat_engine::Location::Local(dir.path().join("repo")), "pw").unwrap();
        let repos = Repos::new(primary, &config, "pw");
        let daemon = CancelToken::default();
        let (big, other) = (daemon.child(), daemon.child());
        let state = dir.path().join("state");
        let run = |cancel: &CancelToken, db: usize| {
            let cx = JobContext { repos: &repos, databases: &config.databases, cancel, state_dir: &state };
            run(&cx, Some(&config.databases[db]), &Work::Backup { classes: vec!["daily".into()] }, Trigger::Schedule).unwrap()
        };
        let running = |name: &str| {
            let log = JobLog::open(&state).unwrap();
            log.newest(crate::joblog::Filter { database: Some(name.into()), ..Default::default() })
                .unwrap()
                .is_some_and(|j| j.status == "running")
        };
        let pack_being_written = || {
            std::fs::read_dir(dir.path().join("repo/data")).into_iter().flatten().flatten().any(|sub| {
                std::fs::read_dir(sub.path()).into_iter().flatten().flatten().any(|f| f.file_name().to_string_lossy().ends_with("-tmp-"))
            })
        };
        let wait = |what: &str, ready: &dyn Fn() -> bool| {
            let start = std::time::Instant::now();
            while !ready() {
                assert!(start.elapsed() < std::time::Duration::from_secs(60), "{what} never happened");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        let (big_outcome, other_outcome) = std::thread::scope(|scope| {
            let big_job = scope.spawn(|| run(&big, 0));
            wait("the big backup writing its data", &|| pack_being_written() && running("big"));
            let other_job = scope.spawn(|| run(&other, 1));
            wait("the other backup starting", &|| running("other"));
            big.cancel();
            (big_job.join().unwrap(), other_job.join().unwrap())
        });
        assert_eq!((big_outcome.status, big_outcome.snapshot.as_deref()), ("interrupted", None), "{big_outcome:?}");
        assert_eq!(other_outcome.status, "ok", "{other_outcome:?}");
        assert!(!daemon.is_cancelled() && !other.is_cancelled());
        let entries = lifeboat_engine::list(&repos.primary, None).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.summary.database.as_str()).collect();
        assert_eq!(names, ["other"], "only the other backup wrote a snapshot");
        let drill = lifeboat_engine::verify(&repos.primary, &entries[0], DrillPlace { scratch: None, live: None }, None).unwrap();
        assert!(drill.ok() && drill.image_matches == Some(true), "{:?}", drill.problems);
    }

    /// Regression: an interrupted prune was logged as "no snapshot was written".
    #[test]
    fn an_interrupted_job_is_described_in_its_own_terms() {
        let prune = interrupted_because(&Work::Prune { on: Target::Primary });
        assert!(prune.contains("prune") && !prune.contains("snapshot"), "{prune}");
        assert!(interrupted_because(&Work::Backup { classes: Vec::new() }).contains("no snapshot was written"));
    }
}
