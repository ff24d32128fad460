//! The one way a job runs, whichever front end asks for it (the CLI, the daemon's schedule,
//! the API next). A job is a typed request ([`Job`]: a backup, a restore, a drill, …); the
//! [`Runner`] records it in the job log (kind, trigger, actor, reason, the request itself),
//! gives it a cancel token of its own under the process's and a [`Progress`] that any number
//! of watchers follow, runs it on its own repository handle, and records how it ended. Front
//! ends build a request, call [`Runner::run`], and present the typed report.
//!
//! The job log is the runner's memory, not a condition of the work: a job whose log cannot be
//! written still runs (a backup that is not logged is better than one not taken), and the
//! problem is handed back for the front end to say.

mod backup;
mod check;
mod copy;
mod drill;
mod export;
mod forget;
mod progress;
mod restore;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use lifeboat_engine::{CancelToken, EngineError, Repo, RepoError, SourceError};
use serde::Serialize;

pub use backup::BackupJob;
pub use check::{CheckJob, PruneJob};
pub use copy::CopyJob;
pub use drill::{DrillJob, DrillReport};
pub use export::ExportJob;
pub use forget::{ForgetJob, Forgotten};
pub use progress::{Progress, ProgressEvent, Watcher};
pub use restore::{Confirm, RestoreJob};

use crate::{
    error::DaemonError,
    joblog::{JobKind, JobLog, NewJob, Outcome, Trigger},
};

/// Why a job's work failed: the layer's own error, kept whole so that a front end can still
/// tell a usage mistake from a failure (exit codes, HTTP statuses).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    State(#[from] DaemonError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What could not be had before the job began (its repository, as its opener said).
    #[error("{0}")]
    Failed(String),
}

/// A typed request for one job. Serializing it gives what the job log keeps of the request
/// (names and options, never a credential).
pub trait Job: Serialize {
    /// What the job hands back to its front end.
    type Report;

    fn kind(&self) -> JobKind;

    /// The database it works on; `None` for a job on a whole repository.
    fn database(&self) -> Option<&str> {
        None
    }

    /// The mirror it works on, `None` for the primary repository.
    fn repository(&self) -> Option<&str> {
        None
    }

    /// The backup classes it carries (a backup's).
    fn classes(&self) -> &[String] {
        &[]
    }

    /// The bytes it expects to handle, when that is cheap to know, for progress.
    fn expected_bytes(&self) -> Option<u64> {
        None
    }

    /// Does the work. `scope.repo` is the job's own handle: its reads and writes count into
    /// the job's progress and stop when the job is cancelled.
    fn run(&mut self, scope: &Scope) -> Result<Self::Report, JobError>;

    /// What a report says in the job log.
    fn outcome(&self, report: &Self::Report) -> Outcome;

    /// What an error says in the job log.
    fn failure(&self, err: &JobError) -> Outcome {
        Outcome::failed(err)
    }

    /// What a job stopped before its end left behind, in its own terms.
    fn left_behind(&self) -> &'static str {
        "nothing was changed"
    }
}

/// What a job works with.
pub struct Scope<'a> {
    /// The job's repository handle (its cancel token, its progress counter).
    pub repo: &'a Repo,
    /// The job log, when there is one: what earlier jobs did (drills that proved a content,
    /// checks already made).
    pub log: Option<&'a JobLog>,
    pub cancel: &'a CancelToken,
}

/// Who asked for a job, and why.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub trigger: Trigger,
    /// The person or token it runs for; `None` is the user this process runs as.
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// A job that is running now.
#[derive(Debug)]
pub struct LiveJob {
    /// The runner's own number for it.
    pub id: u64,
    /// Its row in the job log, when it has one.
    pub logged_as: Option<i64>,
    pub kind: JobKind,
    pub database: Option<String>,
    pub cancel: CancelToken,
    progress: Arc<Progress>,
}

impl LiveJob {
    /// A new watcher of the job's progress.
    pub fn watch(&self) -> Watcher {
        Watcher::new(self.progress.clone())
    }

    pub fn progress(&self) -> ProgressEvent {
        self.progress.now()
    }
}

/// How a job went.
#[derive(Debug)]
pub struct Ran<R> {
    /// The work's own result.
    pub result: Result<R, JobError>,
    /// What the job log says of it (`interrupted` for a job stopped by its token).
    pub outcome: Outcome,
    /// Why the job log could not record it, when it could not.
    pub unlogged: Option<DaemonError>,
}

type OnStart = Box<dyn Fn(&LiveJob) + Send + Sync>;

/// Runs jobs, each under its own cancel token, and knows which run now.
pub struct Runner {
    cancel: CancelToken,
    state_dir: Option<PathBuf>,
    live: Mutex<BTreeMap<u64, Arc<LiveJob>>>,
    next: AtomicU64,
    /// Jobs that ended, of any kind.
    ended: AtomicU64,
    on_start: Mutex<Vec<OnStart>>,
}

impl Runner {
    /// A runner whose jobs stop when `cancel` (the process's token) is cancelled, logging into
    /// `state_dir` when there is one.
    pub fn new(cancel: CancelToken, state_dir: Option<PathBuf>) -> Self {
        Self { cancel, state_dir, live: Mutex::default(), next: AtomicU64::new(1), ended: AtomicU64::new(0), on_start: Mutex::default() }
    }

    /// Calls `hook` as each job starts (the terminal's progress bar watches it so).
    pub fn on_start(&self, hook: impl Fn(&LiveJob) + Send + Sync + 'static) {
        self.on_start.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(hook));
    }

    /// The jobs running now, oldest first.
    pub fn live(&self) -> Vec<Arc<LiveJob>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// How many jobs have ended: what was read from the repository before the count changed
    /// may be out of date.
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::SeqCst)
    }

    /// Whether the process is stopping (its token was cancelled): no follow-up jobs then.
    pub fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `job` on `repo` for `start`, logged start and end. A repository that could not
    /// be opened (`Err`) makes a job that failed, logged as such.
    pub fn run<J: Job>(&self, start: Start, repo: Result<&Repo, JobError>, job: &mut J) -> Ran<J::Report> {
        let log = self.state_dir.as_deref().map(JobLog::open);
        let (log, mut unlogged) = match log {
            Some(Ok(log)) => (Some(log), None),
            Some(Err(err)) => (None, Some(err)),
            None => (None, None),
        };
        let request = serde_json::to_string(job).ok();
        let new = NewJob {
            database: job.database(),
            repository: job.repository(),
            kind: job.kind(),
            classes: job.classes(),
            trigger: start.trigger,
            actor: start.actor,
            reason: start.reason,
            request: request.as_deref(),
        };
        let recorded = log.as_ref().and_then(|log| log.begin(&new).map_err(|err| unlogged = Some(err)).ok());
        let live = Arc::new(LiveJob {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            logged_as: recorded.as_ref().map(|r| r.id()),
            kind: job.kind(),
            database: job.database().map(str::to_string),
            cancel: self.cancel.child(),
            progress: Arc::new(Progress::new(job.expected_bytes())),
        });
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(live.id, live.clone());
        for hook in self.on_start.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            hook(&live);
        }
        let handle = repo.and_then(|repo| Ok(repo.for_job(live.cancel.clone(), Some(live.progress.counter()))?));
        let (result, outcome, waited) = match handle {
            Ok(handle) => {
                let result = job.run(&Scope { repo: &handle, log: log.as_ref(), cancel: &live.cancel });
                let outcome = match &result {
                    Ok(report) => job.outcome(report),
                    Err(err) => job.failure(err),
                };
                (result, outcome, handle.lock_waited())
            }
            Err(err) => {
                let outcome = job.failure(&err);
                (Err(err), outcome, Default::default())
            }
        };
        let outcome = outcome.ended(waited, &live.cancel, job.left_behind());
        if let Some(recorded) = recorded
            && let Err(err) = recorded.end(&outcome)
        {
            unlogged = Some(err);
        }
        live.progress.end(outcome.status);
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&live.id);
        self.ended.fetch_add(1, Ordering::SeqCst);
        Ran { result, outcome, unlogged }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::joblog::Filter;

    /// A job that stops itself halfway, as a job does when its token is cancelled.
    #[derive(Serialize)]
    struct StopsHalfway {
        table: &'static str,
    }

    impl Job for StopsHalfway {
        type Report = ();

        fn kind(&self) -> JobKind {
            JobKind::Restore
        }

        fn database(&self) -> Option<&str> {
            Some("app")
        }

        fn run(&mut self, scope: &Scope) -> Result<(), JobError> {
            scope.cancel.cancel();
            Err(JobError::Io(std::io::Error::other("interrupted by the user")))
        }

        fn outcome(&self, _: &()) -> Outcome {
            Outcome { status: "ok", ..Default::default() }
        }

        fn left_behind(&self) -> &'static str {
            "the table was left as it was"
        }
    }

    fn repo(dir: &std::path::Path) -> Repo {
        Repo::init(&lifeboat_engine::Location::Local(dir.join("repo")), "pw").unwrap()
    }

    /// The runner logs who asked and what, the request included; the job's own token stops
    /// it alone (the process's token is untouched), and it is logged `interrupted` with what
    /// it left, not `failed`. Watchers see it start and end; once ended it is no longer live.
    #[test]
    fn a_job_is_logged_with_its_request_and_a_cancelled_one_as_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let process = CancelToken::default();
        let runner = Runner::new(process.clone(), Some(dir.path().join("state")));
        let seen = Arc::new(Mutex::new(Vec::new()));
        runner.on_start({
            let seen = seen.clone();
            move |job| seen.lock().unwrap().push((job.kind, job.logged_as, job.watch()))
        });
        let start = Start { trigger: Trigger::Api, actor: Some("alice"), reason: Some("before the migration") };
        let ran = runner.run(start, Ok(&repo(dir.path())), &mut StopsHalfway { table: "orders" });
        assert!(ran.result.is_err() && ran.unlogged.is_none(), "{ran:?}");
        assert_eq!(ran.outcome.status, "interrupted");
        assert_eq!(ran.outcome.error.as_deref(), Some("stopped before it finished; the table was left as it was"));
        assert!(!process.is_cancelled() && runner.live().is_empty());

        let log = JobLog::open(&dir.path().join("state")).unwrap();
        let job = log.newest(Filter::default()).unwrap().unwrap();
        assert_eq!(
            (job.kind.as_str(), job.trigger.as_str(), job.actor.as_str(), job.reason.as_deref(), job.status.as_str()),
            ("restore", "api", "alice", Some("before the migration"), "interrupted")
        );
        assert_eq!(job.request.map(|r| r.get().to_string()).as_deref(), Some(r#"{"table":"orders"}"#));
        let mut seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (kind, logged_as, watcher) = &mut seen[0];
        assert_eq!((*kind, *logged_as), (JobKind::Restore, Some(job.id)));
        let last = std::iter::from_fn(|| watcher.next(std::time::Duration::from_secs(60))).last().unwrap();
        assert_eq!(last.status, "interrupted", "the watcher saw the end");
    }

    /// Regression guard for the rule "a backup not logged beats one not taken": a state
    /// directory that cannot be used does not stop the job; the front end is told why.
    #[test]
    fn a_job_whose_log_cannot_be_written_still_runs_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("state");
        std::fs::write(&not_a_dir, "a file where the state directory should be").unwrap();
        let runner = Runner::new(CancelToken::default(), Some(not_a_dir));
        let start = Start { trigger: Trigger::Manual, actor: None, reason: None };
        let ran = runner.run(start, Ok(&repo(dir.path())), &mut CheckJob::new(None, 0));
        let report = ran.result.expect("the check ran");
        assert!(!report.has_errors() && ran.outcome.status == "ok", "{:?}", report.findings);
        assert!(ran.unlogged.expect("the log problem is said").to_string().contains("state"));
    }

    /// A repository that could not be opened makes a failed job, logged like any other.
    #[test]
    fn a_repository_that_cannot_be_opened_is_a_failed_job_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Runner::new(CancelToken::default(), Some(dir.path().join("state")));
        let start = Start { trigger: Trigger::Schedule, actor: None, reason: None };
        let ran = runner.run(start, Err(JobError::Failed("the mirror did not answer".into())), &mut PruneJob::new(Some("s3://mirror")));
        assert_eq!((ran.outcome.status, ran.outcome.error.as_deref()), ("failed", Some("the mirror did not answer")));
        let job = JobLog::open(&dir.path().join("state")).unwrap().newest(Filter::default()).unwrap().unwrap();
        assert_eq!((job.kind.as_str(), job.status.as_str(), job.repository.as_deref()), ("prune", "failed", Some("s3://mirror")));
    }
}
