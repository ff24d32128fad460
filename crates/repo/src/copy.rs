//! Copying snapshots to another repository (a mirror), which may have its own password: only
//! the data the mirror lacks is sent, re-encrypted with the mirror's key, and each snapshot
//! file is written after its data and index, so a copy cut short leaves nothing visible.

use rustic_core::repofile::SnapshotFile;

use crate::{
    LockKind, Repo,
    error::{RepoError, RepoErrorKind, Result, storage},
};

/// What a copy did.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct CopyReport {
    /// Source snapshots copied now.
    pub copied: Vec<String>,
    /// Source snapshots the mirror already had (the same content, time and tags).
    pub present: Vec<String>,
}

impl Repo {
    /// Copies the snapshots `ids` (full ids) of this repository into `mirror`.
    ///
    /// Idempotent: a snapshot the mirror already holds is not copied again. Both repositories
    /// are locked as a backup locks them (a prune of either waits).
    pub fn copy_to(&self, mirror: &Repo, ids: &[String]) -> Result<CopyReport> {
        let _ours = self.lock(LockKind::Shared)?;
        let _theirs = mirror.lock(LockKind::Shared)?;
        let source = self.handle()?.to_indexed().map_err(|e| storage("could not read the repository index", *e))?;
        let snapshots: Vec<SnapshotFile> =
            crate::repository::all_snapshots(&source)?.into_iter().filter(|s| ids.contains(&s.id.to_hex().to_string())).collect();
        let target = mirror
            .handle()?
            .to_indexed_ids()
            .map_err(|e| storage(format!("could not read the index of {}", mirror.location().describe()), *e))?;
        let relevant = target
            .relevant_copy_snapshots(|_| true, &snapshots)
            .map_err(|e| storage(format!("could not list the snapshots of {}", mirror.location().describe()), *e))?;
        let mut report = CopyReport::default();
        for candidate in &relevant {
            let id = candidate.sn.id.to_hex().to_string();
            if candidate.relevant { report.copied.push(id) } else { report.present.push(id) }
        }
        if self.cancel.is_cancelled() {
            return Err(RepoError::new(RepoErrorKind::Storage, "the copy was interrupted before it began", "nothing was copied"));
        }
        let to_copy = relevant.iter().filter(|c| c.relevant).map(|c| &c.sn);
        source.copy(&target, to_copy).map_err(|e| storage(format!("could not copy to {}", mirror.location().describe()), *e))?;
        Ok(report)
    }
}
