//! Restore drills: restore a backup into a scratch location and prove it matches its manifest.

use lifeboat_repo::Repo;
use lifeboat_sources::{CopyCheck, RestoreOptions};
use serde::Serialize;

use crate::{EngineError, Result, manifest::BackupEntry, stored::StoredBackup};

/// The outcome of one restore drill.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub snapshot: BackupEntry,
    /// The image's SHA-256 matched the manifest.
    pub image_matches: bool,
    pub check: Option<CopyCheck>,
    /// Everything that went wrong; empty when the drill passed.
    pub problems: Vec<String>,
    pub seconds: f64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Restores `snapshot` into a scratch location (SQLite: a folder, default the temporary folder;
/// PostgreSQL: a database URL, default a temporary database on the backup's server), runs the
/// integrity check and compares row counts and content hashes with the manifest (PostgreSQL
/// loads with `jobs` sessions). Failures of the repository are reported as problems, not
/// errors, so the report says what is wrong.
pub fn verify(repo: &Repo, snapshot: &BackupEntry, scratch: Option<&str>, jobs: Option<usize>) -> Result<VerifyReport> {
    let started = std::time::Instant::now();
    let mut report = VerifyReport { snapshot: snapshot.clone(), image_matches: false, check: None, problems: Vec::new(), seconds: 0.0 };
    let mut drill = || -> Result<CopyCheck> {
        let backup = StoredBackup::open(repo, snapshot)?;
        report.snapshot.add_totals(&backup.manifest);
        let engine = lifeboat_sources::engine_named(&backup.manifest.catalog.engine)?;
        // The scratch place and the staged copy in it are removed when dropped.
        let scratch = engine.scratch(&backup, scratch)?;
        let mut staged = scratch.stage(&backup, &RestoreOptions { jobs, ..Default::default() })?;
        Ok(staged.check(true)?)
    };
    match drill() {
        Err(err) if err.is_usage() => return Err(err),
        Ok(check) => {
            report.image_matches = true;
            report.problems = check.problems();
            report.check = Some(check);
        }
        Err(err @ (EngineError::Repo(_) | EngineError::Mismatch { .. } | EngineError::Source(_))) => {
            report.problems.push(err.to_string().lines().next().unwrap_or_default().to_string());
        }
        Err(err) => return Err(err),
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
