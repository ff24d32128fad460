//! Restoring a backup, whole or one table, without making anything worse.
//!
//! Order of work: read and check the copy first (the target is untouched if the repository
//! is damaged), ask for consent, take a safety backup of what will be replaced, then put the
//! copy in place atomically. See `lifeboat_sources::sqlite::restore` for the atomic part.

use std::path::{Path, PathBuf};

use lifeboat_repo::Repo;
use lifeboat_sources::{CopyCheck, sqlite::{SqliteSource, restore_table}};
use serde::Serialize;

use crate::{
    EngineError, Result,
    backup::{BackupRequest, backup},
    database::DatabaseSpec,
    manifest::BackupEntry,
    scratch::write_checked_copy,
    select,
};

/// What a restore is about to do, shown to the user before anything is replaced.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub snapshot: BackupEntry,
    pub target: PathBuf,
    /// The target exists and its content will be replaced (after a safety backup).
    pub replaces_existing: bool,
    pub existing_bytes: Option<u64>,
    /// Only this table is restored.
    pub table: Option<String>,
    pub rows: u64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub plan: RestorePlan,
    pub safety_backup: Option<BackupEntry>,
    pub check: CopyCheck,
    pub rows_restored: u64,
}

/// Restores `snapshot` into `target` (a whole database, or one `table` of it).
///
/// `confirm` is asked before an existing target is changed; returning `false` aborts with
/// nothing changed.
pub fn restore(
    repo: &Repo,
    snapshot: &BackupEntry,
    target: &DatabaseSpec,
    table: Option<&str>,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<RestoreReport> {
    let DatabaseSpec::Sqlite(target_path) = target;
    if snapshot.summary.engine != target.engine() {
        return Err(EngineError::input(
            format!("snapshot {} is a {} backup and cannot be restored into a {} database", snapshot.short_id, snapshot.summary.engine, target.engine()),
            "choose a target of the same engine",
        ));
    }
    if target_path.is_dir() {
        return Err(EngineError::input(format!("{} is a folder", target_path.display()), "name the database file to restore into"));
    }
    if table.is_some() && !target_path.exists() {
        return Err(EngineError::input(
            format!("{} does not exist, and --table restores into an existing database", target_path.display()),
            "restore the whole database with `lifeboat restore <SNAPSHOT> --to PATH`",
        ));
    }

    let reader = repo.reader(&snapshot.id)?;
    let manifest = select::manifest(&reader)?;
    let rows = match table {
        Some(name) => manifest.catalog.table(name).map(|t| t.rows).ok_or_else(|| {
            let names: Vec<&str> = manifest.catalog.tables.iter().map(|t| t.name.as_str()).filter(|n| !n.starts_with("sqlite_")).collect();
            EngineError::input(format!("snapshot {} has no table `{name}`", snapshot.short_id), format!("tables in it: {}", names.join(", ")))
        })?,
        None => manifest.catalog.total_rows(),
    };
    let plan = RestorePlan {
        snapshot: snapshot.clone(),
        target: target_path.clone(),
        replaces_existing: target_path.exists(),
        existing_bytes: std::fs::metadata(target_path).ok().map(|m| m.len()),
        table: table.map(String::from),
        rows,
    };

    let copy = write_checked_copy(&reader, &manifest, target_path)?;
    let check = copy.check(&manifest.catalog, false)?;
    if !check.ok() {
        return Err(EngineError::Mismatch {
            context: format!("the restored copy of snapshot {} failed its checks: {}", snapshot.short_id, check.problems().join("; ")),
            hint: "the target was not touched; try an older snapshot and run `lifeboat check --read-data`".into(),
        });
    }

    let mut safety_backup = None;
    if plan.replaces_existing {
        if !confirm(&plan) {
            return Err(EngineError::NotConfirmed {
                context: format!("not restoring: {} already exists and would be replaced", target_path.display()),
                hint: "pass --yes to replace it (a safety backup is taken first)".into(),
            });
        }
        safety_backup = Some(take_safety_backup(repo, target_path, snapshot)?);
    }

    let rows_restored = match table {
        Some(name) => restore_table(&copy, target_path, name, &manifest.catalog)?,
        None => {
            copy.put_in_place(target_path)?;
            rows
        }
    };
    Ok(RestoreReport { plan, safety_backup, check, rows_restored })
}

fn take_safety_backup(repo: &Repo, target: &Path, restoring: &BackupEntry) -> Result<BackupEntry> {
    let request = BackupRequest {
        class: "safety".into(),
        reason: Some(format!("before restoring snapshot {} into {}", restoring.short_id, target.display())),
        tags: Vec::new(),
        source_label: target.display().to_string(),
        progress: None,
    };
    let report = backup(repo, &SqliteSource::new(target), &request).map_err(|err| EngineError::Mismatch {
        context: format!("the safety backup of {} failed, so nothing was restored: {err}", target.display()),
        hint: "fix the cause above and restore again".into(),
    })?;
    Ok(report.entry)
}
