//! Finding snapshots: `<SNAPSHOT>` is an id prefix or `latest`, optionally within one database.

use lifeboat_repo::{Repo, SnapshotReader};
use lifeboat_sources::{CaptureOptions, Database};

use crate::{
    EngineError, Result,
    manifest::{BackupEntry, Manifest},
    retention::SAFETY_CLASS,
};

/// Every lifeboat backup in the repository, oldest first, optionally of one database.
pub fn list(repo: &Repo, database: Option<&str>) -> Result<Vec<BackupEntry>> {
    let snapshots = repo.snapshots()?;
    let entries = snapshots.iter().filter_map(BackupEntry::from_snapshot);
    Ok(entries.filter(|e| database.is_none_or(|db| e.summary.database == db)).collect())
}

/// The newest backup of every database (or of `database`), safety backups aside: what
/// `verify --all` drills. An error when there is none.
pub fn newest_of_each_database(repo: &Repo, database: Option<&str>) -> Result<Vec<BackupEntry>> {
    let mut names: Vec<String> = list(repo, database)?.into_iter().map(|e| e.summary.database).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        let scope = database.map(|db| format!(" of database `{db}`")).unwrap_or_default();
        return Err(EngineError::input(format!("there is no backup{scope} to drill"), "take one with `lifeboat backup <DB>`"));
    }
    // A database with only safety backups has no `latest`, and nothing of its own to drill.
    Ok(names.iter().filter_map(|name| resolve(repo, "latest", Some(name)).ok()).collect())
}

/// Like [`list`], with each backup's row and byte totals read from its manifest (one index
/// load for all). A backup whose manifest cannot be read keeps zeros.
pub fn list_with_totals(repo: &Repo, database: Option<&str>) -> Result<Vec<BackupEntry>> {
    let mut entries = list(repo, database)?;
    let indexed = repo.indexed()?;
    for entry in &mut entries {
        if let Some(manifest) = indexed.snapshot(&entry.id).ok().and_then(|reader| manifest(&reader).ok()) {
            entry.add_totals(&manifest);
        }
    }
    Ok(entries)
}

/// Resolves `spec` (`latest` or an id prefix) among the backups of `database` (or all).
pub fn resolve(repo: &Repo, spec: &str, database: Option<&str>) -> Result<BackupEntry> {
    let entries = list(repo, database)?;
    let scope = database.map(|db| format!(" of database `{db}`")).unwrap_or_default();
    if spec == "latest" {
        // A safety backup holds what a restore replaced, often the very damage being undone:
        // `latest` must never hand it out (restore it by its id on purpose).
        return entries.iter().rev().find(|e| e.summary.class != SAFETY_CLASS).cloned().ok_or_else(|| {
            EngineError::input(format!("there is no backup{scope} in the repository"), "take one with `lifeboat backup <DB>`")
        });
    }
    if spec.is_empty() || !spec.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(EngineError::input(
            format!("`{spec}` is not a snapshot id"),
            "give an id prefix from `lifeboat snapshots`, or `latest`",
        ));
    }
    let spec = spec.to_ascii_lowercase();
    let matches: Vec<_> = entries.iter().filter(|e| e.id.starts_with(&spec)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            Err(EngineError::input(format!("no snapshot{scope} has an id starting with `{spec}`"), "list them with `lifeboat snapshots`"))
        }
        many => Err(EngineError::input(
            format!(
                "`{spec}` matches {} snapshots: {}",
                many.len(),
                many.iter().map(|e| e.short_id.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "give more digits of the id",
        )),
    }
}

/// Resolves `spec` for a restore into `target`: `latest` without `database` means the latest
/// backup of the target's own database (the name whose backups record the target's identity,
/// DESIGN.md decision 9), never another database's newest backup that happens to be the
/// newest in the repository. When the repository holds one database, that is the one. When
/// the target's database cannot be known (a new file, a database never backed up here), it
/// refuses, naming the databases to choose from with `--db`.
pub fn resolve_for_restore(repo: &Repo, spec: &str, database: Option<&str>, target: &dyn Database) -> Result<BackupEntry> {
    if spec != "latest" || database.is_some() {
        return resolve(repo, spec, database);
    }
    let entries = list(repo, None)?;
    let mut names: Vec<&str> = entries.iter().filter(|e| e.summary.class != SAFETY_CLASS).map(|e| e.summary.database.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() <= 1 {
        return resolve(repo, spec, names.first().copied());
    }
    let identity = match target.exists() {
        Ok(true) => target.source(&CaptureOptions::default()).ok().map(|source| source.identity()),
        _ => None,
    };
    let own = identity.and_then(|id| entries.iter().rev().find(|e| e.summary.source_identity.as_deref() == Some(id.as_str())));
    match own {
        Some(entry) => resolve(repo, spec, Some(&entry.summary.database.clone())),
        None => Err(EngineError::input(
            format!(
                "`latest` is ambiguous: the repository holds backups of {} databases, and none of them was taken from {}",
                names.len(),
                target.label()
            ),
            format!("name the database with --db: {}", names.join(", ")),
        )),
    }
}

/// Reads a backup's manifest.
pub fn manifest(reader: &SnapshotReader) -> Result<Manifest> {
    let bytes = reader.manifest()?;
    serde_json::from_slice(&bytes).map_err(|e| EngineError::Mismatch {
        context: format!("the manifest of snapshot {} cannot be read: {e}", reader.info().short_id()),
        hint: "the snapshot was not written by this version of lifeboat, or is damaged; run `lifeboat check --read-data`".into(),
    })
}
