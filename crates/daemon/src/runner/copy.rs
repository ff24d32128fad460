//! A copy to a mirror: the backups it lacks, sent with their data.

use lifeboat_engine::{CopyReport, Repo};
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, Outcome};

/// Copies backups from a repository to the job's (a mirror).
#[derive(Serialize)]
pub struct CopyJob<'a> {
    /// The mirror, as people know it (its URL).
    repository: String,
    database: Option<String>,
    /// The snapshots to copy; `None` for every backup (of `database`, when given).
    snapshots: Option<Vec<String>>,
    /// Where they are copied from.
    #[serde(skip)]
    from: &'a Repo,
}

impl<'a> CopyJob<'a> {
    /// Copies from `from` to the job's repository, the mirror known as `repository`.
    pub fn new(from: &'a Repo, repository: &str, database: Option<&str>, snapshots: Option<Vec<String>>) -> Self {
        Self { repository: repository.into(), database: database.map(str::to_string), snapshots, from }
    }
}

impl Job for CopyJob<'_> {
    type Report = CopyReport;

    fn kind(&self) -> JobKind {
        JobKind::Copy
    }

    fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn repository(&self) -> Option<&str> {
        Some(&self.repository)
    }

    fn run(&mut self, scope: &Scope) -> Result<CopyReport, JobError> {
        let from = self.from.for_job(scope.cancel.clone(), None)?;
        let ids = match &self.snapshots {
            Some(ids) => ids.clone(),
            None => lifeboat_engine::list(&from, self.database.as_deref())?.into_iter().map(|e| e.id).collect(),
        };
        Ok(from.copy_to(scope.repo, &ids)?)
    }

    fn outcome(&self, report: &CopyReport) -> Outcome {
        Outcome { status: "ok", rows: Some(report.copied.len() as u64), ..Default::default() }
    }

    fn left_behind(&self) -> &'static str {
        "the mirror got no partial snapshot; the next copy sends what is missing"
    }
}
