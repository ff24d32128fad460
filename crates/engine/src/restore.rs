//! Restoring a backup, whole or one table, without making anything worse.
//!
//! Order of work: read and check the copy first (the target is untouched if the repository
//! is damaged), ask for consent, take a safety backup of what will be replaced, then put the
//! copy in place atomically. See `lifeboat_sources::sqlite::restore` for the atomic part.

use std::path::Path;

use lifeboat_repo::Repo;
use lifeboat_sources::{
    CopyCheck, Source,
    sqlite::{RawFiles, SqliteSource, restore_table},
};
use serde::Serialize;

use crate::{
    EngineError, Result,
    backup::{BackupRequest, backup},
    database::DatabaseSpec,
    manifest::BackupEntry,
    retention::SAFETY_CLASS,
    scratch::write_checked_copy,
    select,
};

/// What a restore is about to do, shown to the user before anything is replaced.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub snapshot: BackupEntry,
    /// The target as shown to people: a path, or a URL without its password.
    pub target: String,
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
    /// Set when what was replaced could not be kept as a normal safety backup: where and how
    /// it was kept instead (a raw copy in the repository, a copy beside the target, or a
    /// replaced database kept under another name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_note: Option<String>,
    pub check: CopyCheck,
    pub rows_restored: u64,
}

/// How a restore may treat the target.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore only this table, into the existing database.
    pub table: Option<String>,
    /// PostgreSQL with `table`: restore it beside the original as a new table of this name.
    pub table_as: Option<String>,
    /// PostgreSQL: end the sessions on the old database that would block the swap.
    pub terminate_connections: bool,
    /// PostgreSQL: first create the roles and tablespaces of a backup taken with `--globals`.
    pub globals: bool,
    /// PostgreSQL: sessions that load tables and build indexes at once (default: one per
    /// core, at least two).
    pub jobs: Option<usize>,
    /// Restore a backup whose manifest records a failed integrity check, as it was.
    pub accept_damaged: bool,
}

/// Restores `snapshot` into `target` (a whole database, or one table of it).
///
/// `confirm` is asked before an existing target is changed; returning `false` aborts with
/// nothing changed.
pub fn restore(
    repo: &Repo,
    snapshot: &BackupEntry,
    target: &DatabaseSpec,
    options: &RestoreOptions,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<RestoreReport> {
    if snapshot.summary.engine != target.engine() {
        return Err(EngineError::input(
            format!(
                "snapshot {} is a {} backup and cannot be restored into a {} database",
                snapshot.short_id,
                snapshot.summary.engine,
                target.engine()
            ),
            "choose a target of the same engine",
        ));
    }
    match target {
        DatabaseSpec::Sqlite(_) if options.table_as.is_some() => Err(EngineError::input(
            "--as is for PostgreSQL tables",
            "for SQLite, restore the whole database to a new file and copy the table from there",
        )),
        DatabaseSpec::Sqlite(path) => restore_sqlite(repo, snapshot, path, options, confirm),
        DatabaseSpec::Postgres(conn) => crate::pg_restore::restore(repo, snapshot, conn, options, confirm),
    }
}

fn restore_sqlite(
    repo: &Repo,
    snapshot: &BackupEntry,
    target_path: &Path,
    options: &RestoreOptions,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<RestoreReport> {
    let table = options.table.as_deref();
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
            EngineError::input(
                format!("snapshot {} has no table `{name}`", snapshot.short_id),
                format!("tables in it: {}", names.join(", ")),
            )
        })?,
        None => manifest.catalog.total_rows(),
    };
    let plan = RestorePlan {
        snapshot: snapshot.clone(),
        target: target_path.display().to_string(),
        replaces_existing: target_path.exists(),
        existing_bytes: std::fs::metadata(target_path).ok().map(|m| m.len()),
        table: table.map(String::from),
        rows,
    };

    let copy = write_checked_copy(&reader, &manifest, target_path)?;
    let check = copy.check(&manifest.catalog, false)?;
    if !check.ok() {
        // A backup that was already damaged when it was taken may be the best there is: it
        // is restored as it was on purpose, never by accident.
        let damaged_at_backup = manifest.catalog.damaged_at_backup();
        let only_integrity = check.tables.iter().all(lifeboat_sources::TableCheck::ok);
        if !(options.accept_damaged && damaged_at_backup && only_integrity) {
            let hint = if damaged_at_backup && only_integrity {
                "this backup was already damaged when it was taken (see `lifeboat show`): restore an older snapshot, or pass --accept-damaged to restore it exactly as it was; the target was not touched"
            } else {
                "the target was not touched; try an older snapshot and run `lifeboat check --read-data`"
            };
            return Err(EngineError::Mismatch {
                context: format!("the restored copy of snapshot {} failed its checks: {}", snapshot.short_id, check.problems().join("; ")),
                hint: hint.into(),
            });
        }
    }

    let (mut safety_backup, mut safety_note) = (None, None);
    if plan.replaces_existing {
        if !confirm(&plan) {
            return Err(EngineError::NotConfirmed {
                context: format!("not restoring: {} already exists and would be replaced", target_path.display()),
                hint: "pass --yes to replace it (a safety backup is taken first)".into(),
            });
        }
        (safety_backup, safety_note) = keep_sqlite_target(repo, target_path, &plan.target, snapshot)?;
    }

    let rows_restored = match table {
        Some(name) => restore_table(&copy, target_path, name, &manifest.catalog)?,
        None => {
            copy.put_in_place(target_path, &manifest.catalog)?;
            rows
        }
    };
    Ok(RestoreReport { plan, safety_backup, safety_note, check, rows_restored })
}

/// Keeps the SQLite file a restore is about to replace: a safety backup when it can be read;
/// else its raw bytes in the repository (a damaged database, the very case restores are
/// for); else, when the repository cannot take them (read-only, full), a copy beside it.
/// Fails, and nothing is restored, only when none of these worked.
fn keep_sqlite_target(repo: &Repo, path: &Path, target: &str, restoring: &BackupEntry) -> Result<(Option<BackupEntry>, Option<String>)> {
    let failure = match take_safety_backup(repo, &SqliteSource::new(path), target, restoring) {
        Ok(entry) => return Ok((Some(entry), None)),
        Err(err) => err,
    };
    let why = failure.to_string().lines().next().unwrap_or_default().to_string();
    if !matches!(failure, EngineError::Repo(_))
        && let Ok(entry) = take_safety_backup(repo, &RawFiles::new(path, why.clone()), target, restoring)
    {
        let note = format!("{target} could not be read ({why}); its raw bytes were kept as safety backup {}", entry.short_id);
        return Ok((Some(entry), Some(note)));
    }
    let kept = copy_beside(path).map_err(|err| EngineError::Mismatch {
        context: format!("{target} could not be kept before replacing it, so nothing was restored: the safety backup failed ({why}) and copying it beside itself failed ({err})"),
        hint: "make room next to the database or in the repository, then restore again".into(),
    })?;
    Ok((None, Some(format!("the safety backup of {target} failed ({why}); it was copied to {} instead", kept.display()))))
}

/// Copies the database file and its side files to `<file>.lifeboat-kept-<time>[-wal|-journal]`
/// with the same permission bits, synced. Returns the main copy's path.
fn copy_beside(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let stamp = jiff::Zoned::now().strftime("%Y%m%d%H%M%S").to_string();
    let base = lifeboat_sources::sqlite::with_suffix(path, &format!(".lifeboat-kept-{stamp}"));
    for suffix in ["", "-wal", "-journal"] {
        let from = lifeboat_sources::sqlite::with_suffix(path, suffix);
        if from.exists() {
            let to = lifeboat_sources::sqlite::with_suffix(&base, suffix);
            std::fs::copy(&from, &to)?;
            std::fs::File::open(&to)?.sync_all()?;
        }
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(folder)?.sync_all()?;
    Ok(base)
}

/// Backs up what a restore is about to replace, as class `safety`, under the name that
/// already holds the target's identity (see `name_for`).
pub(crate) fn take_safety_backup(repo: &Repo, source: &dyn Source, target: &str, restoring: &BackupEntry) -> Result<BackupEntry> {
    let request = BackupRequest {
        name: Some(crate::backup::name_for(repo, source)?),
        class: SAFETY_CLASS.into(),
        reason: Some(format!("before restoring snapshot {} into {target}", restoring.short_id)),
        tags: Vec::new(),
        source_label: target.to_string(),
        progress: None,
    };
    Ok(backup(repo, source, &request)?.entry)
}
