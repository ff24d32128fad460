//! Forgetting backups: those a plan removes (the user's, or the retention rules'), and with a
//! prune the data only they used.

use lifeboat_engine::{GroupPlan, KeepPolicy};
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, Outcome};

/// Removes the backups a plan does not keep.
#[derive(Serialize)]
pub struct ForgetJob<'a> {
    database: Option<String>,
    /// The mirror it works on (its URL), `None` for the primary repository.
    repository: Option<String>,
    /// The snapshots the plan removes, once it is known.
    remove: Vec<String>,
    prune: bool,
    #[serde(skip)]
    plan: Plan<'a>,
}

enum Plan<'a> {
    /// Made (and shown) before the job.
    Given(&'a [GroupPlan]),
    /// The database's retention rules, applied when the job runs.
    Rules(&'a KeepPolicy),
}

/// What was removed.
#[derive(Debug, Clone, Copy)]
pub struct Forgotten {
    pub removed: usize,
    /// With a prune: the bytes freed.
    pub freed: Option<u64>,
}

impl<'a> ForgetJob<'a> {
    /// Carries out `plan` (for `database`, or every database), pruning afterwards when asked.
    pub fn planned(plan: &'a [GroupPlan], database: Option<&str>, prune: bool) -> Self {
        Self { database: database.map(str::to_string), repository: None, remove: removed_by(plan), prune, plan: Plan::Given(plan) }
    }

    /// Applies `database`'s retention `rules` to the repository of `mirror` (`None`: the
    /// primary), without a prune (the daemon prunes on a schedule of its own).
    pub fn retention(database: &str, rules: &'a KeepPolicy, mirror: Option<&str>) -> Self {
        Self {
            database: Some(database.into()),
            repository: mirror.map(str::to_string),
            remove: Vec::new(),
            prune: false,
            plan: Plan::Rules(rules),
        }
    }
}

fn removed_by(plan: &[GroupPlan]) -> Vec<String> {
    plan.iter().flat_map(|g| &g.decisions).filter(|d| !d.keep).map(|d| d.snapshot.id.clone()).collect()
}

impl Job for ForgetJob<'_> {
    type Report = Forgotten;

    fn kind(&self) -> JobKind {
        if self.prune { JobKind::Prune } else { JobKind::Forget }
    }

    fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    fn run(&mut self, scope: &Scope) -> Result<Forgotten, JobError> {
        let (removed, freed) = match self.plan {
            Plan::Given(plan) => lifeboat_engine::forget(scope.repo, plan, self.prune)?,
            Plan::Rules(rules) => {
                let plan = lifeboat_engine::forget_plan(scope.repo, self.database.as_deref(), rules)?;
                self.remove = removed_by(&plan);
                lifeboat_engine::forget(scope.repo, &plan, self.prune)?
            }
        };
        Ok(Forgotten { removed, freed })
    }

    fn outcome(&self, done: &Forgotten) -> Outcome {
        Outcome { status: "ok", rows: Some(done.removed as u64), bytes_read: done.freed, ..Default::default() }
    }

    fn left_behind(&self) -> &'static str {
        "each backup is removed whole or not at all; run it again to remove the rest"
    }
}
