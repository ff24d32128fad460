//! Jobs on a whole repository: a check of its structure and data, a prune of what no
//! snapshot uses.

use lifeboat_engine::CheckReport;
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{Filter, JobKind, Outcome};

/// Checks a repository.
#[derive(Serialize)]
pub struct CheckJob {
    /// The mirror checked (its URL), `None` for the primary repository.
    repository: Option<String>,
    /// How much of the packs' data it reads: 0 the structure only, 100 every pack, else a
    /// different part each time so that checks in turn read every pack.
    read_data_percent: u8,
}

impl CheckJob {
    pub fn new(repository: Option<&str>, read_data_percent: u8) -> Self {
        Self { repository: repository.map(str::to_string), read_data_percent }
    }
}

impl Job for CheckJob {
    type Report = CheckReport;

    fn kind(&self) -> JobKind {
        JobKind::Check
    }

    fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    fn run(&mut self, scope: &Scope) -> Result<CheckReport, JobError> {
        Ok(match self.read_data_percent {
            0 => scope.repo.check(false)?,
            100.. => scope.repo.check(true)?,
            percent => {
                // 10% → ten parts; the part follows the checks already logged, so a week of
                // daily checks at 15% reads every pack.
                let parts = (100 / u32::from(percent)).max(1);
                let filter = Filter { kind: Some(JobKind::Check), ..Default::default() };
                let done = scope.log.and_then(|log| log.count(&filter).ok()).unwrap_or(0);
                scope.repo.check_part((done as u32 % parts) + 1, parts)?
            }
        })
    }

    fn outcome(&self, report: &CheckReport) -> Outcome {
        Outcome::of_check(report)
    }
}

/// Removes data no snapshot of a repository uses, under its exclusive lock.
#[derive(Serialize)]
pub struct PruneJob {
    repository: Option<String>,
}

impl PruneJob {
    pub fn new(repository: Option<&str>) -> Self {
        Self { repository: repository.map(str::to_string) }
    }
}

impl Job for PruneJob {
    /// The bytes freed.
    type Report = u64;

    fn kind(&self) -> JobKind {
        JobKind::Prune
    }

    fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    fn run(&mut self, scope: &Scope) -> Result<u64, JobError> {
        Ok(scope.repo.prune()?)
    }

    fn outcome(&self, freed: &u64) -> Outcome {
        Outcome { status: "ok", bytes_read: Some(*freed), ..Default::default() }
    }

    fn left_behind(&self) -> &'static str {
        "prune removes packs only once the new index is written, so nothing was lost; the next prune finishes the job"
    }
}
