//! lifeboat's engine: backup, restore, verification, retention and reports, composed from the
//! repository layer and the database sources. It returns plans and reports; it never prints.

mod backup;
mod error;
mod inspect;
mod manifest;
mod restore;
mod retention;
mod select;
mod stored;
mod verify;

pub use backup::{BackupReport, BackupRequest, CLASSES, backup, snapshot_root, validate_class};
pub use error::{EngineError, Result};
pub use inspect::{ShowReport, export, show};
pub use lifeboat_repo::{CancelToken, CheckReport, Location, Repo, RepoError, RepoErrorKind};
pub use lifeboat_sources::{
    CaptureOptions, Catalog, CopyCheck, Database, IntegrityLevel, RestoreOptions as EngineRestoreOptions, Sample, SourceError,
    SourceErrorKind, TableCheck, TableInfo, open as open_database,
};
pub use manifest::{BackupEntry, Manifest, StreamRecord, Summary};
pub use restore::{RestoreOptions, RestorePlan, RestoreReport, restore};
pub use retention::{Decision, GroupPlan, KeepPolicy, parse_within, plan as retention_plan};
pub use select::{list, list_with_totals, resolve};
pub use verify::{VerifyReport, verify};

/// What `forget` would do under `policy` to the backups of `database` (or of every database),
/// as of now in the system's time zone. Nothing is changed; [`forget`] applies the plan.
pub fn forget_plan(repo: &Repo, database: Option<&str>, policy: &KeepPolicy) -> Result<Vec<GroupPlan>> {
    let entries = list_with_totals(repo, database)?;
    retention_plan(&entries, policy, jiff::Timestamp::now(), &jiff::tz::TimeZone::system())
}

/// Removes the backups `plan` does not keep, then with `prune` the data only they used.
/// Returns the number of snapshots removed and the bytes freed by the prune.
pub fn forget(repo: &Repo, plan: &[GroupPlan], prune: bool) -> Result<(usize, Option<u64>)> {
    let ids: Vec<String> = plan.iter().flat_map(|g| &g.decisions).filter(|d| !d.keep).map(|d| d.snapshot.id.clone()).collect();
    if !ids.is_empty() {
        repo.forget(&ids)?;
    }
    let freed = if prune { Some(repo.prune()?) } else { None };
    Ok((ids.len(), freed))
}
