//! A restore: one backup into a database, whole or one table, after the front end's yes.

use lifeboat_engine::{BackupEntry, Database, Drill, RestoreOptions, RestorePlan, RestoreReport};
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, JobLog, Outcome};

/// Asked with the plan before an existing target is changed; `false` changes nothing.
pub type Confirm<'a> = Box<dyn FnMut(&RestorePlan) -> bool + 'a>;

/// Restores one backup into a database.
#[derive(Serialize)]
pub struct RestoreJob<'a> {
    /// The backup's database, whose job this is.
    database: String,
    snapshot: String,
    /// The target, as people see it (never with credentials).
    target: String,
    options: RestoreOptions,
    #[serde(skip)]
    entry: BackupEntry,
    #[serde(skip)]
    into: &'a dyn Database,
    #[serde(skip)]
    confirm: Confirm<'a>,
}

impl<'a> RestoreJob<'a> {
    /// A restore of `entry` into `into`, as `options` allow, asking `confirm` first. The
    /// options' drill is looked up in the job log when the job runs.
    pub fn new(entry: &BackupEntry, into: &'a dyn Database, options: RestoreOptions, confirm: Confirm<'a>) -> Self {
        Self {
            database: entry.summary.database.clone(),
            snapshot: entry.id.clone(),
            target: into.label(),
            options,
            entry: entry.clone(),
            into,
            confirm,
        }
    }
}

impl Job for RestoreJob<'_> {
    type Report = RestoreReport;

    fn kind(&self) -> JobKind {
        JobKind::Restore
    }

    fn database(&self) -> Option<&str> {
        Some(&self.database)
    }

    fn run(&mut self, scope: &Scope) -> Result<RestoreReport, JobError> {
        self.options.drill = scope.log.and_then(|log| newest_drill(log, &self.entry));
        Ok(lifeboat_engine::restore(scope.repo, &self.entry, self.into, &self.options, &mut *self.confirm)?)
    }

    fn outcome(&self, report: &RestoreReport) -> Outcome {
        Outcome { status: "ok", snapshot: Some(self.snapshot.clone()), rows: Some(report.rows_restored), ..Default::default() }
    }

    fn left_behind(&self) -> &'static str {
        "nothing was changed: the target is as it was, and a staged copy is removed"
    }
}

/// The newest restore drill of `entry` that came to a verdict, named for the report. Without
/// one (or when the log cannot be read) the restore stands on the backup's own checks.
fn newest_drill(log: &JobLog, entry: &BackupEntry) -> Option<Drill> {
    let drill = log.newest_drill(&entry.id).ok()??;
    let at = crate::output::local_time(drill.at);
    let name = match &drill.covered_by {
        Some(other) => format!(
            "the restore drill of snapshot {} (the same streams and row counts; found to cover this one {at})",
            &other[..other.len().min(8)],
        ),
        None => format!("the restore drill of {at}"),
    };
    Some(Drill { name, passed: drill.passed })
}
