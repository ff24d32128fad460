//! Reading a backup for people: the report of `lifeboat show` and the SQL of `lifeboat export`.

use std::{collections::BTreeMap, io::Write, path::Path};

use lifeboat_repo::Repo;
use lifeboat_sources::{Sample, engine_named};
use serde::Serialize;

use crate::{
    Result,
    manifest::{BackupEntry, Manifest},
    stored::StoredBackup,
};

/// Everything `lifeboat show` presents.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ShowReport {
    pub snapshot: BackupEntry,
    pub manifest: Manifest,
    pub samples: BTreeMap<String, Sample>,
}

/// The manifest of `snapshot` and, with `sample`, the first rows of each table.
pub fn show(repo: &Repo, snapshot: &BackupEntry, sample: Option<usize>, scratch: Option<&Path>) -> Result<ShowReport> {
    let backup = StoredBackup::open(repo, snapshot)?;
    let samples = match sample.filter(|n| *n > 0) {
        Some(limit) => engine_named(&backup.manifest.catalog.engine)?.samples(&backup, limit, scratch)?,
        None => BTreeMap::new(),
    };
    let mut snapshot = snapshot.clone();
    snapshot.add_totals(&backup.manifest);
    Ok(ShowReport { snapshot, manifest: backup.manifest.clone(), samples })
}

/// Writes `snapshot` as plain SQL to `out`.
pub fn export(repo: &Repo, snapshot: &BackupEntry, out: &mut dyn Write, scratch: Option<&Path>) -> Result<()> {
    let backup = StoredBackup::open(repo, snapshot)?;
    Ok(engine_named(&backup.manifest.catalog.engine)?.export_sql(&backup, out, scratch)?)
}
