//! Restore drills: restore a backup into a scratch location and prove it matches its manifest.

use lifeboat_repo::Repo;
use lifeboat_sources::{CopyCheck, RestoreCheck, RestoreOptions};
use serde::Serialize;

use crate::{EngineError, Result, manifest::BackupEntry, stored::StoredBackup};

/// The outcome of one restore drill.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    pub snapshot: BackupEntry,
    /// Whether every stream's SHA-256 matched the manifest; `None` when the drill could not
    /// get that far (the scratch server refused the connection, say): no verdict is given on
    /// what was not computed.
    pub image_matches: Option<bool>,
    pub check: Option<CopyCheck>,
    /// Everything that went wrong; empty when the drill passed.
    pub problems: Vec<String>,
    pub seconds: f64,
    /// What the drill proves when it passes (see [`content_key`]); `None` when the backup
    /// could not be read.
    pub content_key: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Where a drill restores to.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrillPlace<'a> {
    /// As the user gave it (`--scratch`, the configuration's `scratch`): a folder, a URL.
    pub scratch: Option<&'a str>,
    /// The backed-up database's own URL, when known (the configuration's): the default
    /// scratch place is reached with its credentials, which the manifest does not keep.
    pub live: Option<&'a str>,
}

/// Restores `snapshot` into a scratch location (SQLite: a folder, default the temporary folder;
/// PostgreSQL: a database URL, default a temporary database on the backup's server), runs the
/// integrity check and compares row counts and content hashes with the manifest (PostgreSQL
/// loads with `jobs` sessions). Failures are reported as problems, not errors, so the report
/// says what is wrong: a stream that does not match its manifest, or why the drill could not
/// run at all (then without a checksum verdict).
pub fn verify(repo: &Repo, snapshot: &BackupEntry, place: DrillPlace, jobs: Option<usize>) -> Result<VerifyReport> {
    let started = std::time::Instant::now();
    let mut report = VerifyReport {
        snapshot: snapshot.clone(),
        image_matches: None,
        check: None,
        problems: Vec::new(),
        seconds: 0.0,
        content_key: None,
    };
    let mut drill = || -> Result<CopyCheck> {
        let backup = StoredBackup::open(repo, snapshot)?;
        report.snapshot.add_totals(&backup.manifest);
        report.content_key = Some(key_of(&backup.manifest));
        let engine = lifeboat_sources::engine_named(&backup.manifest.catalog.engine)?;
        // The scratch place and the staged copy in it are removed when dropped.
        let scratch = engine.scratch(&backup, place.scratch, place.live)?;
        let mut staged = scratch.stage(&backup, &RestoreOptions { jobs, ..Default::default() })?;
        Ok(staged.check(RestoreCheck::Full)?)
    };
    let first_line = |err: &EngineError| err.to_string().lines().next().unwrap_or_default().to_string();
    match drill() {
        Err(err) if err.is_usage() => return Err(err),
        Ok(check) => {
            report.image_matches = Some(true);
            report.problems = check.problems();
            report.check = Some(check);
        }
        Err(err @ EngineError::Mismatch { .. }) => {
            report.image_matches = Some(false);
            report.problems.push(first_line(&err));
        }
        Err(err @ (EngineError::Repo(_) | EngineError::Source(_))) => {
            report.problems.push(format!("the drill could not run: {}", first_line(&err)));
        }
        Err(err) => return Err(err),
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What a restore drill of `snapshot` proves, as one key: the engine, every stream's name and
/// SHA-256, and every table's row count. Two snapshots with the same key restore the very same
/// bytes into the very same catalog, so a drill that passed on one covers the other (the
/// daemon drills every backup, and skips one an earlier drill already covers).
///
/// Returns the key and the backup's row count (which a listing does not know).
pub fn content_key(repo: &Repo, snapshot: &BackupEntry) -> Result<(String, u64)> {
    let manifest = StoredBackup::open(repo, snapshot)?.manifest;
    Ok((key_of(&manifest), manifest.catalog.total_rows()))
}

fn key_of(manifest: &crate::Manifest) -> String {
    let mut key = lifeboat_repo::Sha256::default();
    key.update(manifest.catalog.engine.as_bytes());
    let mut streams: Vec<_> = manifest.streams.iter().map(|s| (s.name.as_str(), s.sha256.as_str())).collect();
    streams.sort_unstable();
    for (name, sha256) in streams {
        key.update(format!("\0stream\0{name}\0{sha256}").as_bytes());
    }
    for table in &manifest.catalog.tables {
        key.update(format!("\0table\0{}\0{}", table.name, table.rows).as_bytes());
    }
    key.finish()
}
