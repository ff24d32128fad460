//! The CLI's jobs, run by the same runner as the daemon's: logged (trigger `manual`, actor the
//! OS user) when a configuration or `LIFEBOAT_STATE_DIR` names a state directory, cancelled by
//! Ctrl-C, watched by a progress bar. What is the CLI's own here is that a log it cannot write
//! is a warning, never a reason not to do the work.

use anyhow::Result;
use lifeboat_daemon::{
    Runner, Start, Trigger,
    runner::{Job, JobError},
};
use lifeboat_engine::Repo;

use crate::{context, flags::Global, progress::Bars};

/// Runs this command's jobs.
pub struct Jobs {
    runner: Runner,
    bars: Bars,
}

impl Jobs {
    pub fn new(global: &Global) -> Result<Self> {
        let runner = Runner::new(crate::JOB.clone(), context::state_dir(global)?);
        let bars = Bars::new(global.json);
        runner.on_start({
            let bars = bars.clone();
            move |job| bars.start(job)
        });
        Ok(Self { runner, bars })
    }

    /// Runs `job` on `repo` for `reason`, with a progress bar labelled `bar` (when given, on
    /// a terminal).
    pub fn run<J: Job>(&self, repo: &Repo, job: &mut J, reason: Option<&str>, bar: Option<&'static str>) -> Result<J::Report> {
        self.bars.label_next(bar);
        let ran = self.runner.run(Start { trigger: Trigger::Manual, actor: None, reason }, Ok(repo), job);
        self.bars.finish();
        if let Some(err) = ran.unlogged {
            eprintln!("warning: this job is not (fully) logged: {err}");
        }
        ran.result.map_err(error)
    }
}

/// The layer's own error, so that exit codes still tell a usage mistake from a failure.
fn error(err: JobError) -> anyhow::Error {
    match err {
        JobError::Engine(e) => e.into(),
        JobError::Source(e) => e.into(),
        JobError::Repo(e) => e.into(),
        JobError::State(e) => e.into(),
        JobError::Io(e) => e.into(),
        JobError::Failed(e) => anyhow::anyhow!(e),
    }
}
