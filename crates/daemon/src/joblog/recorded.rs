//! One way to record a job, for every front end (the daemon's workers, the CLI's commands,
//! the API next): written when it starts, completed when it ends with how long it waited for
//! repository locks; a job whose token was cancelled ended `interrupted`, not `failed`.

use lifeboat_engine::{CancelToken, Repo};

use super::{JobLog, NewJob, Outcome};
use crate::error::Result;

/// A job whose start is in the log; [`RecordedJob::end`] records how it ended.
#[must_use = "a job that is not ended stays `running` in the log until its process is gone"]
pub struct RecordedJob<'a> {
    log: &'a JobLog,
    id: i64,
}

impl JobLog {
    /// Records that `job` starts now.
    pub fn begin(&self, job: &NewJob) -> Result<RecordedJob<'_>> {
        Ok(RecordedJob { log: self, id: self.start(job)? })
    }
}

impl RecordedJob<'_> {
    /// Records how the job ended: `outcome`, with the time the job's handle `repo` waited for
    /// other jobs' locks. A job that failed after `cancel` was asked is recorded `interrupted`,
    /// with `left` (what it left behind) as its error when given, else its own error. Returns
    /// the outcome as recorded.
    pub fn end(self, outcome: Outcome, repo: &Repo, cancel: &CancelToken, left: Option<String>) -> Result<Outcome> {
        let waited = repo.lock_waited();
        let outcome = Outcome { lock_wait_seconds: (!waited.is_zero()).then_some(waited.as_secs_f64()), ..outcome };
        let outcome = if cancel.is_cancelled() && outcome.status == "failed" {
            Outcome { status: "interrupted", error: left.or(outcome.error), ..outcome }
        } else {
            outcome
        };
        self.log.finish(self.id, &outcome)?;
        Ok(outcome)
    }
}
