//! Reading a backup for people: the report of `lifeboat show` and the SQL of `lifeboat export`.

use std::{collections::BTreeMap, io::Write, path::Path};

use lifeboat_repo::Repo;
use lifeboat_sources::{
    postgres,
    sqlite::{export_sql, sample_rows},
};
use serde::Serialize;

use crate::{
    Result,
    manifest::{BackupEntry, Manifest},
    scratch::ScratchCopy,
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
    let Some(limit) = sample.filter(|n| *n > 0) else {
        let manifest = select::manifest(&repo.reader(&snapshot.id)?)?;
        return Ok(ShowReport { snapshot: snapshot.clone(), manifest, samples: BTreeMap::new() });
    };
    if snapshot.summary.engine == "postgres" {
        // PostgreSQL keeps each table as its own stream: the first rows are read from it.
        let reader = repo.reader(&snapshot.id)?;
        let manifest = select::manifest(&reader)?;
        let read = |name: &str, out: &mut dyn Write| reader.read(name, out).map_err(std::io::Error::other);
        let mut samples = BTreeMap::new();
        for table in &manifest.catalog.tables {
            let columns = table.columns.iter().filter(|c| !c.generated).map(|c| c.name.clone()).collect();
            let rows = postgres::sample_rows(table, &read, limit)
                .map_err(|e| crate::EngineError::input(format!("reading {} failed: {e}", table.name), ""))?;
            samples.insert(table.name.clone(), Sample { columns, rows });
        }
        return Ok(ShowReport { snapshot: snapshot.clone(), manifest, samples });
    }
    let scratch = ScratchCopy::restore(repo, snapshot, scratch)?;
    let conn = scratch.copy.open()?;
    let mut samples = BTreeMap::new();
    for table in scratch.manifest.catalog.tables.iter().filter(|t| !t.sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL")) {
        let (columns, rows) = sample_rows(&conn, &table.name, limit)?;
        samples.insert(table.name.clone(), Sample { columns, rows });
    }
    Ok(ShowReport { snapshot: snapshot.clone(), manifest: scratch.manifest.clone(), samples })
}

/// Writes `snapshot` as plain SQL to `out`.
pub fn export(repo: &Repo, snapshot: &BackupEntry, out: &mut dyn Write, scratch: Option<&Path>) -> Result<()> {
    if snapshot.summary.engine == "postgres" {
        let reader = repo.reader(&snapshot.id)?;
        let manifest = select::manifest(&reader)?;
        let read = |name: &str, out: &mut dyn Write| crate::pg_restore::read_checked(&reader, &manifest, name, out);
        return postgres::export_sql(&manifest.catalog, &read, out).map_err(|e| {
            crate::EngineError::input(
                format!("exporting snapshot {} failed: {e}", snapshot.short_id),
                "check the output's disk, and the repository with `lifeboat check --read-data`",
            )
        });
    }
    let scratch = ScratchCopy::restore(repo, snapshot, scratch)?;
    export_sql(&scratch.copy.open()?, out)?;
    Ok(())
}
