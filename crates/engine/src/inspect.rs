//! Reading a backup for people: the report of `lifeboat show` and the SQL of `lifeboat export`.

use std::{collections::BTreeMap, io::Write, path::Path};

use lifeboat_repo::Repo;
use lifeboat_sources::sqlite::{export_sql, sample_rows};
use serde::Serialize;

use crate::{
    Result,
    manifest::{BackupEntry, Manifest},
    scratch::{ScratchDir, write_checked_copy},
    select,
};

/// The first rows of one table.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Everything `lifeboat show` presents.
#[derive(Debug, Clone, Serialize)]
pub struct ShowReport {
    pub snapshot: BackupEntry,
    pub manifest: Manifest,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub samples: BTreeMap<String, Sample>,
}

/// The manifest of `snapshot` and, with `sample`, the first rows of each table.
pub fn show(repo: &Repo, snapshot: &BackupEntry, sample: Option<usize>, scratch: Option<&Path>) -> Result<ShowReport> {
    let reader = repo.reader(&snapshot.id)?;
    let manifest = select::manifest(&reader)?;
    let mut samples = BTreeMap::new();
    if let Some(limit) = sample.filter(|n| *n > 0) {
        let dir = ScratchDir::new(scratch)?;
        let copy = write_checked_copy(&reader, &manifest, &dir.file(&snapshot.summary.database))?;
        let conn = copy.open()?;
        for table in manifest.catalog.tables.iter().filter(|t| !t.sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL")) {
            let (columns, rows) = sample_rows(&conn, &table.name, limit)?;
            samples.insert(table.name.clone(), Sample { columns, rows });
        }
    }
    Ok(ShowReport { snapshot: snapshot.clone(), manifest, samples })
}

/// Writes `snapshot` as plain SQL to `out`.
pub fn export(repo: &Repo, snapshot: &BackupEntry, out: &mut dyn Write, scratch: Option<&Path>) -> Result<()> {
    let reader = repo.reader(&snapshot.id)?;
    let manifest = select::manifest(&reader)?;
    let dir = ScratchDir::new(scratch)?;
    let copy = write_checked_copy(&reader, &manifest, &dir.file(&snapshot.summary.database))?;
    let conn = copy.open()?;
    export_sql(&conn, out)?;
    Ok(())
}
