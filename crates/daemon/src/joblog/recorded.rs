//! One way to record a job, for every front end (through the runner): written when it starts,
//! completed when it ends; a job whose token was cancelled ended `interrupted`, not `failed`.

use std::time::Duration;

use lifeboat_engine::CancelToken;

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
    /// The job's row in the log.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Records how the job ended.
    pub fn end(self, outcome: &Outcome) -> Result<()> {
        self.log.finish(self.id, outcome)
    }
}

impl Outcome {
    /// The outcome as the log keeps it: with the time the job `waited` for other jobs'
    /// repository locks, and `interrupted` (saying what it `left` behind) rather than `failed`
    /// when it failed after `cancel` was asked.
    pub fn ended(self, waited: Duration, cancel: &CancelToken, left: &str) -> Outcome {
        let outcome = Outcome { lock_wait_seconds: (!waited.is_zero()).then_some(waited.as_secs_f64()), ..self };
        if cancel.is_cancelled() && outcome.status == "failed" {
            Outcome { status: "interrupted", error: Some(format!("stopped before it finished; {left}")), ..outcome }
        } else {
            outcome
        }
    }
}
