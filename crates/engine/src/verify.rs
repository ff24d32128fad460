//! Restore drills: restore a backup into a scratch location and prove it matches its manifest.

use std::path::Path;

use lifeboat_repo::Repo;
use lifeboat_sources::CopyCheck;
use serde::Serialize;

use crate::{EngineError, Result, manifest::BackupEntry, scratch::ScratchCopy};

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
    let drill = || -> Result<CopyCheck> {
        if snapshot.summary.engine == "postgres" {
            return crate::pg_restore::drill(repo, snapshot, scratch, jobs);
        }
        let scratch = ScratchCopy::restore(repo, snapshot, scratch.map(Path::new))?;
        Ok(scratch.copy.check(&scratch.manifest.catalog, true)?)
    };
    match drill() {
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
