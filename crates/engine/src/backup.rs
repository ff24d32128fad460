//! Taking a backup: capture a consistent point in time from a source and write it as one
//! snapshot of named streams plus a manifest.

use std::sync::{Arc, Mutex, atomic::AtomicU64};

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
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    pub class: String,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    /// Where the database is, as shown in the manifest (never with credentials).
    pub source_label: String,
    pub progress: Option<Arc<AtomicU64>>,
}

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub entry: BackupEntry,
    pub manifest: Manifest,
}

/// Checks a class name against [`CLASSES`].
pub fn validate_class(class: &str) -> Result<()> {
    if CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(EngineError::input(format!("`{class}` is not a backup class"), format!("use one of: {}", CLASSES.join(", "))))
    }
}

/// The folder of a database's streams inside a snapshot: `/<engine>/<database>`.
pub fn snapshot_root(engine: &str, database: &str) -> String {
    format!("/{engine}/{database}")
}

/// Backs up `source` into `repo`. All or nothing: on any failure no snapshot appears.
pub fn backup(repo: &Repo, source: &dyn Source, request: &BackupRequest) -> Result<BackupReport> {
    validate_class(&request.class)?;
    for tag in &request.tags {
        if tag.is_empty() || tag.contains(',') {
            return Err(EngineError::input(format!("`{tag}` is not a valid tag"), "tags are non-empty and contain no commas"));
        }
    }
    let started_at = jiff::Timestamp::now();
    let capture = source.capture()?;
    let (streams, catalog) = capture.into_parts();

    let database = source.name().to_string();
    let engine = source.engine().to_string();
    let summary = Summary { engine: engine.clone(), database: database.clone(), class: request.class.clone(), reason: request.reason.clone(), rows: 0, bytes: 0 };
    let mut tags = vec![request.class.clone(), format!("db:{database}"), format!("engine:{engine}")];
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
        progress: request.progress.clone(),
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
    entry.summary.rows = manifest.catalog.total_rows();
    entry.summary.bytes = manifest.streams.iter().map(|s| s.bytes).sum();
    Ok(BackupReport { entry, manifest })
}
