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

pub use backup::{BackupReport, BackupRequest, CLASSES, backup, snapshot_root, validate_class, validate_name};
pub use error::{EngineError, Result};
pub use inspect::{ShowReport, export, show};
pub use lifeboat_repo::{
    CancelToken, CheckFinding, CheckReport, CopyReport, KeyInfo, Location, Repo, RepoError, RepoErrorKind, S3Settings, process_exists,
    user_name,
};
pub use lifeboat_sources::{
    CaptureOptions, Catalog, CopyCheck, Database, IntegrityLevel, RestoreCheck, RestoreOptions as EngineRestoreOptions, Sample, SecretUrl,
    Source, SourceError, SourceErrorKind, TableCheck, TableInfo, host_name, open as open_database, redact,
    relative_to as database_relative_to,
};
pub use lifeboat_sources::{disk, lower_this_thread};
pub use manifest::{BackupEntry, Manifest, StreamRecord, Summary};
pub use restore::{Drill, RestoreOptions, RestorePlan, RestoreReport, restore};
pub use retention::{ClassRule, Decision, GroupPlan, KeepPolicy, SAFETY_CLASS, ago, parse_within, plan as retention_plan};
pub use select::{list, list_with_totals, newest_of_each_database, resolve, resolve_for_restore};
pub use verify::{DrillPlace, VerifyReport, content_key, verify};

/// What `forget` would do under `policy` to the backups of `database` (or of every database),
/// as of now in the system's time zone. Nothing is changed; [`forget`] applies the plan.
pub fn forget_plan(repo: &Repo, database: Option<&str>, policy: &KeepPolicy) -> Result<Vec<GroupPlan>> {
    let entries = list_with_totals(repo, database)?;
    retention_plan(&entries, policy, jiff::Timestamp::now(), &jiff::tz::TimeZone::system())
}

/// A plan that removes the backups `specs` name (id prefixes, or `latest`, among `database`'s
/// backups or all), except any that is its database's newest backup (not counting safety
/// backups): that one is kept, with the reason. Nothing is changed; [`forget`] applies it.
pub fn forget_named_plan(repo: &Repo, specs: &[String], database: Option<&str>) -> Result<Vec<GroupPlan>> {
    let entries = list_with_totals(repo, database)?;
    let mut plans: Vec<GroupPlan> = Vec::new();
    for spec in specs {
        let named = resolve(repo, spec, database)?;
        let Some(entry) = entries.iter().find(|e| e.id == named.id) else { continue };
        let newest = entries
            .iter()
            .filter(|e| e.summary.database == entry.summary.database && e.summary.class != retention::SAFETY_CLASS)
            .max_by_key(|e| e.time);
        let keep = newest.is_some_and(|n| n.id == entry.id);
        let reasons = if keep { vec!["newest of its database (always kept)".to_string()] } else { Vec::new() };
        let decision = Decision { snapshot: entry.clone(), keep, reasons };
        match plans.iter_mut().find(|g| g.database == entry.summary.database) {
            Some(group) if !group.decisions.iter().any(|d| d.snapshot.id == entry.id) => group.decisions.push(decision),
            Some(_) => {}
            None => plans.push(GroupPlan { database: entry.summary.database.clone(), decisions: vec![decision] }),
        }
    }
    Ok(plans)
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
