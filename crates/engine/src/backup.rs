//! Taking a backup: capture a consistent point in time from a source and write it as one
//! snapshot of named streams plus a manifest.

use std::sync::{Arc, Mutex};

use lifeboat_repo::{NewSnapshot, Repo, Stream};
use lifeboat_sources::{Catalog, Source};

use crate::{
    EngineError, Result,
    manifest::{BackupEntry, MANIFEST_VERSION, Manifest, StreamRecord, Summary},
};

// Table streams align their zstd frames to the repository's chunks; both sides must agree.
const _: () = assert!(lifeboat_sources::frames::ALIGN as u64 == lifeboat_repo::CHUNK_SIZE);

/// The classes a backup can belong to; retention and schedules work by class.
pub const CLASSES: [&str; 8] = ["hourly", "daily", "weekly", "monthly", "yearly", "manual", "pre-deployment", "safety"];

/// What to back up and how to label it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackupRequest {
    /// The database's name in the repository; `None` takes the source's default (the file's
    /// stem, the database's name).
    pub name: Option<String>,
    pub class: String,
    /// Further classes the backup also counts as, for retention (a scheduled backup due for
    /// several classes at once is one snapshot carrying all of them as tags).
    pub also_classes: Vec<String>,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    /// Where the database is, as shown in the manifest (never with credentials).
    pub source_label: String,
}

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub entry: BackupEntry,
    pub manifest: Manifest,
    /// What a person should know although the backup succeeded, each with what to do.
    pub warnings: Vec<String>,
}

/// Checks a class name against [`CLASSES`].
pub fn validate_class(class: &str) -> Result<()> {
    if CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(EngineError::input(format!("`{class}` is not a backup class"), format!("use one of: {}", CLASSES.join(", "))))
    }
}

/// Checks a name given with `--name`: it becomes a folder in the snapshot and a tag.
pub fn validate_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.trim() == name
        && !name.chars().any(|c| matches!(c, '/' | '\\' | ',') || c.is_control());
    if fine {
        Ok(())
    } else {
        Err(EngineError::input(
            format!("`{name}` cannot be a database name"),
            "use a name without `/`, `\\`, `,` or control characters, not starting with `.`, e.g. --name prod-app",
        ))
    }
}

/// Refuses to add a backup of `identity` under `name` when that name already holds backups of
/// another database: `latest`, retention and health would mix the two (DESIGN.md decision 9).
/// Returns the newest backup already there of this very database, if any.
fn check_identity(repo: &Repo, name: &str, identity: &str) -> Result<Option<BackupEntry>> {
    let group = crate::select::list(repo, Some(name))?;
    let recorded = group.iter().rev().find_map(|e| e.summary.source_identity.as_deref());
    match recorded {
        Some(other) if other != identity => Err(EngineError::input(
            format!("the name `{name}` already holds backups of another database ({other}); this one is {identity}"),
            format!("give this database a name of its own with --name, e.g. --name {name}-2; nothing was backed up"),
        )),
        _ => Ok(group.into_iter().rev().find(|e| e.summary.source_identity.as_deref() == Some(identity))),
    }
}

/// The catalog of `entry`'s backup, for the source to reuse what did not change; `None` when
/// it cannot be read (then everything is read anew, which is always correct).
fn previous_catalog(repo: &Repo, entry: Option<&BackupEntry>) -> Option<Catalog> {
    let reader = repo.reader(&entry?.id).ok()?;
    crate::select::manifest(&reader).ok().map(|m| m.catalog)
}

/// The name a backup of `source` goes under when the user did not choose one (safety
/// backups): the name that already holds this identity, else the source's default name if
/// it is free for it, else that name with a short hash of the identity.
pub(crate) fn name_for(repo: &Repo, source: &dyn Source) -> Result<String> {
    let identity = source.identity();
    let entries = crate::select::list(repo, None)?;
    if let Some(own) = entries.iter().rev().find(|e| e.summary.source_identity.as_deref() == Some(identity.as_str())) {
        return Ok(own.summary.database.clone());
    }
    let default = source.name();
    let taken =
        entries.iter().any(|e| e.summary.database == default && e.summary.source_identity.as_deref().is_some_and(|id| id != identity));
    if !taken {
        return Ok(default.to_string());
    }
    let mut hash = lifeboat_repo::Sha256::default();
    hash.update(identity.as_bytes());
    Ok(format!("{default}-{}", &hash.finish()[..8]))
}

/// The folder of a database's streams inside a snapshot: `/<engine>/<database>`.
pub fn snapshot_root(engine: &str, database: &str) -> String {
    format!("/{engine}/{database}")
}

/// Backs up `source` into `repo`. All or nothing: on any failure no snapshot appears.
pub fn backup(repo: &Repo, source: &dyn Source, request: &BackupRequest) -> Result<BackupReport> {
    validate_class(&request.class)?;
    for class in &request.also_classes {
        validate_class(class)?;
    }
    for tag in &request.tags {
        if tag.is_empty() || tag.contains(',') {
            return Err(EngineError::input(format!("`{tag}` is not a valid tag"), "tags are non-empty and contain no commas"));
        }
    }
    let database = match &request.name {
        Some(name) => {
            validate_name(name)?;
            name.clone()
        }
        None => source.name().to_string(),
    };
    let identity = source.identity();
    let previous = check_identity(repo, &database, &identity)?;
    let previous = previous_catalog(repo, previous.as_ref());
    let started_at = jiff::Timestamp::now();
    let capture = source.capture(previous.as_ref(), &|| repo.is_cancelled())?;
    let (streams, catalog) = capture.into_parts();

    let engine = source.engine().to_string();
    let summary = Summary {
        engine: engine.clone(),
        database: database.clone(),
        class: request.class.clone(),
        reason: request.reason.clone(),
        rows: 0,
        bytes: 0,
        database_bytes: None,
        source_identity: Some(identity.clone()),
    };
    let mut tags = vec![request.class.clone(), format!("db:{database}"), format!("engine:{engine}")];
    tags.extend(request.also_classes.iter().filter(|c| **c != request.class).cloned());
    tags.extend(request.tags.iter().cloned());

    // The manifest is rendered when every stream has been read; it waits for the catalog,
    // which is computed in parallel from the same point in time.
    let manifest_slot: Arc<Mutex<Option<Manifest>>> = Arc::default();
    let catalog_error: Arc<Mutex<Option<lifeboat_sources::SourceError>>> = Arc::default();
    let render = {
        let (slot, catalog_error, request, database) = (manifest_slot.clone(), catalog_error.clone(), request.clone(), database.clone());
        let tags = tags.clone();
        Box::new(move |digests: &[lifeboat_repo::StreamDigest]| -> std::io::Result<Vec<u8>> {
            let catalog: Catalog = match catalog() {
                Ok(c) => c,
                Err(err) => {
                    let text = err.to_string();
                    *catalog_error.lock().expect("lock") = Some(err);
                    return Err(std::io::Error::other(text));
                }
            };
            let manifest = Manifest {
                manifest_version: MANIFEST_VERSION,
                lifeboat_version: env!("CARGO_PKG_VERSION").to_string(),
                database,
                source: request.source_label.clone(),
                source_identity: Some(identity),
                class: request.class.clone(),
                reason: request.reason.clone(),
                tags,
                started_at,
                finished_at: jiff::Timestamp::now(),
                streams: digests.iter().map(StreamRecord::from).collect(),
                catalog,
            };
            let bytes = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
            *slot.lock().expect("lock") = Some(manifest);
            Ok(bytes)
        })
    };

    let streams = streams.into_iter().map(|s| Stream { name: s.name, open: s.open }).collect();
    let meta = NewSnapshot {
        root: snapshot_root(&engine, &database),
        tags,
        description: serde_json::to_string(&summary).expect("summary serializes"),
        hostname: None,
    };
    let written = repo.write_snapshot(meta, streams, render).map_err(|err| {
        // A failed catalog is the more useful message than "manifest failed".
        match catalog_error.lock().expect("lock").take() {
            Some(source_err) => EngineError::Source(source_err),
            None => EngineError::Repo(err),
        }
    })?;
    let manifest = manifest_slot.lock().expect("lock").take().expect("manifest rendered when the snapshot was written");
    let mut entry = BackupEntry::from_snapshot(&written.info).expect("our own snapshot has a summary");
    entry.add_totals(&manifest);
    let mut warnings = Vec::new();
    if let Some(findings) = manifest.catalog.integrity_findings() {
        let repair = lifeboat_sources::engine_named(&engine).map_or("repair the database", |e| e.repair_hint());
        warnings.push(format!(
            "the database failed its integrity check ({}); the backup keeps it exactly as it is\n  hint: restore an earlier backup that passed, or {repair} and back up again",
            findings.chars().take(300).collect::<String>()
        ));
    }
    Ok(BackupReport { entry, manifest, warnings })
}
