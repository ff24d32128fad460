//! The daemon's scheduled work, as typed jobs for the runner: what a schedule slot names
//! ([`Work`]) becomes a backup, drill, check, prune or copy request, and a good backup or copy
//! is followed by the database's retention.

use lifeboat_engine::{BackupRequest, DrillPlace, Repo};

use crate::{
    config::DatabaseConfig,
    error::DaemonError,
    joblog::{JobKind, Outcome, Trigger},
    repos::{Repos, Target},
    runner::{BackupJob, CheckJob, CopyJob, DrillJob, ForgetJob, JobError, PruneJob, Ran, Runner, Start},
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
    pub runner: &'a Runner,
}

/// Runs `work` (for `database`, or on a whole repository) through the runner, logged as
/// `start` says. Returns the outcome as logged, and why the log could not record it, if not.
pub fn run(cx: &JobContext, database: Option<&DatabaseConfig>, work: &Work, start: Start) -> (Outcome, Option<DaemonError>) {
    let target = work.target();
    let mirror_url = cx.repos.mirror_url(target);
    let opened = cx.repos.get(target);
    let repo = || opened.as_ref().map_err(|err| JobError::Failed(err.to_string()));
    let ran: Finished = match (work, database) {
        (Work::Backup { classes }, Some(db)) => {
            let source = lifeboat_engine::open_database(db.url.expose());
            let request = BackupRequest { reason: start.reason.map(str::to_string), ..backup_request(db, classes) };
            cx.runner.run(start, repo(), &mut BackupJob::new(source, request, db.capture_options())).into()
        }
        (Work::Drill { snapshot }, Some(db)) => {
            let place = DrillPlace { scratch: db.scratch.as_deref(), live: Some(db.url.expose()) };
            cx.runner.run(start, repo(), &mut DrillJob::scheduled(&db.name, snapshot.as_deref(), place)).into()
        }
        (Work::Check { percent, .. }, _) => cx.runner.run(start, repo(), &mut CheckJob::new(mirror_url, *percent)).into(),
        (Work::Prune { .. }, _) => cx.runner.run(start, repo(), &mut PruneJob::new(mirror_url)).into(),
        (Work::Copy { .. }, _) => {
            let mut copy = CopyJob::new(&cx.repos.primary, mirror_url.unwrap_or_default(), None, None);
            let ran: Finished = cx.runner.run(start, repo(), &mut copy).into();
            if let (Ok(mirror), "ok", false) = (&opened, ran.outcome.status, cx.runner.stopping()) {
                for db in cx.databases {
                    apply_retention(cx, mirror, db, mirror_url);
                }
            }
            ran
        }
        (_, None) => return (Outcome::failed("a database job without a database"), None),
    };
    if ran.outcome.status == "failed" {
        // A mirror that failed is opened afresh next time (it may have been replaced).
        cx.repos.reset(target);
    }
    // Retention follows a good backup, as a job of its own in the log: it is not part of the
    // backup's time, and a retention that fails does not make the backup fail.
    if let (Work::Backup { .. }, Some(db), "ok") = (work, database, ran.outcome.status)
        && !cx.runner.stopping()
        && let Ok(repo) = &opened
    {
        apply_retention(cx, repo, db, None);
    }
    (ran.outcome, ran.unlogged)
}

/// What the daemon keeps of a job that ran: its outcome, and whether the log has it.
struct Finished {
    outcome: Outcome,
    unlogged: Option<DaemonError>,
}

impl<R> From<Ran<R>> for Finished {
    fn from(ran: Ran<R>) -> Self {
        Self { outcome: ran.outcome, unlogged: ran.unlogged }
    }
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

/// A scheduled backup of `db` due for `classes`: labelled with the longest-lived, carrying
/// the others.
fn backup_request(db: &DatabaseConfig, classes: &[String]) -> BackupRequest {
    let class = label(classes);
    BackupRequest {
        name: Some(db.name.clone()),
        also_classes: classes.iter().filter(|c| **c != class).cloned().collect(),
        class,
        ..Default::default()
    }
}

/// The database's class rules, applied to `repo` (the primary after a backup, or the mirror
/// at `mirror` after a copy), as a `forget` job of its own.
fn apply_retention(cx: &JobContext, repo: &Repo, db: &DatabaseConfig, mirror: Option<&str>) {
    let start = Start { trigger: Trigger::Schedule, actor: None, reason: None };
    let _ = cx.runner.run(start, Ok(repo), &mut ForgetJob::retention(&db.name, &db.retention, mirror));
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
        let daemon = lifeboat_engine::CancelToken::default();
        let state = dir.path().join("state");
        let runner = Runner::new(daemon.clone(), Some(state.clone()));
        let run = |db: usize| {
            let cx = JobContext { repos: &repos, databases: &config.databases, runner: &runner };
            let (outcome, unlogged) = run(
                &cx,
                Some(&config.databases[db]),
                &Work::Backup { classes: vec!["daily".into()] },
                Start { trigger: Trigger::Schedule, actor: None, reason: None },
            );
            assert!(unlogged.is_none(), "{unlogged:?}");
            outcome
        };
        let running = |name: &str| {
            let log = crate::JobLog::open(&state).unwrap();
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
            let big_job = scope.spawn(|| run(0));
            wait("the big backup writing its data", &|| pack_being_written() && running("big"));
            let other_job = scope.spawn(|| run(1));
            wait("the other backup starting", &|| running("other"));
            let live = runner.live();
            assert_eq!(live.len(), 2, "the runner knows both jobs: {live:?}");
            live.iter().find(|job| job.database.as_deref() == Some("big")).unwrap().cancel.cancel();
            (big_job.join().unwrap(), other_job.join().unwrap())
        });
        assert_eq!((big_outcome.status, big_outcome.snapshot.as_deref()), ("interrupted", None), "{big_outcome:?}");
        assert_eq!(other_outcome.status, "ok", "{other_outcome:?}");
        assert!(!daemon.is_cancelled() && runner.live().is_empty());
        let entries = lifeboat_engine::list(&repos.primary, None).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.summary.database.as_str()).collect();
        assert_eq!(names, ["other"], "only the other backup wrote a snapshot");
        let drill = lifeboat_engine::verify(&repos.primary, &entries[0], DrillPlace { scratch: None, live: None }, None).unwrap();
        assert!(drill.ok() && drill.image_matches == Some(true), "{:?}", drill.problems);
    }
}
