//! Manual jobs in the job log: a CLI command given a configuration or `LIFEBOAT_STATE_DIR`
//! records what it did (trigger `manual`, actor the OS user) the way the daemon does, through
//! the same `JobLog::begin` and `RecordedJob::end`; what is the CLI's own here is that a log
//! it cannot write is a warning, never a reason not to do the work.

use anyhow::Result;
use lifeboat_daemon::{JobKind, JobLog, NewJob, Outcome, Trigger};
use lifeboat_engine::Repo;

use crate::{context, flags::Global};

/// What a logged job is.
pub struct Job<'a> {
    pub database: Option<&'a str>,
    /// The mirror the job works on; `None` for the repository of --repo.
    pub repository: Option<&'a str>,
    pub kind: JobKind,
    pub classes: &'a [String],
    pub reason: Option<&'a str>,
    /// The job's repository handle, whose lock waits are logged with the job.
    pub repo: &'a Repo,
}

/// Runs `work`, recording its start and end in the job log when one is configured; `outcome`
/// says what a success did. A log that cannot be written is a warning: the job still counts.
pub fn run<T>(global: &Global, job: Job, work: impl FnOnce() -> Result<T>, outcome: impl FnOnce(&T) -> Outcome) -> Result<T> {
    let log = match context::state_dir(global)? {
        Some(dir) => match JobLog::open(&dir) {
            Ok(log) => Some(log),
            Err(err) => {
                eprintln!("warning: this job is not logged: {err}");
                None
            }
        },
        None => None,
    };
    let new = NewJob {
        database: job.database,
        repository: job.repository,
        kind: job.kind,
        classes: job.classes,
        trigger: Trigger::Manual,
        reason: job.reason,
    };
    let recorded = log.as_ref().and_then(|log| log.begin(&new).map_err(|err| eprintln!("warning: this job is not logged: {err}")).ok());
    let result = work();
    if let Some(recorded) = recorded {
        let ended = match &result {
            Ok(value) => outcome(value),
            Err(err) => Outcome::failed(crate::describe(err)),
        };
        if let Err(err) = recorded.end(ended, job.repo, &crate::JOB, None) {
            eprintln!("warning: the end of this job is not logged: {err}");
        }
    }
    result
}
