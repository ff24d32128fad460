//! Repository integrity, and which snapshots a problem touches.
//!
//! rustic's check reports problems by pack or blob. A user needs to know which backups they
//! can no longer trust, so after the check we walk every snapshot's trees and mark it affected
//! when one of its blobs is missing from the index, lives in a pack that is gone, or lives in
//! a pack or blob the check named.

use std::{collections::HashSet, ffi::OsStr};

use rustic_core::{
    CheckOptions, IndexedFullStatus, LsOptions, Repository,
    repofile::{Metadata, Node, NodeType, SnapshotFile},
};

use crate::{
    error::{Result, storage},
    repository::{Repo, SnapshotInfo},
};

/// One problem the check found.
#[derive(Debug, Clone)]
pub struct CheckFinding {
    /// An error damages data; a warning is something to tidy (e.g. an unreferenced pack left by
    /// an interrupted backup).
    pub error: bool,
    pub message: String,
}

/// The result of [`Repo::check`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub findings: Vec<CheckFinding>,
    /// Snapshots that cannot be restored in full because of the errors found.
    pub affected: Vec<SnapshotInfo>,
    pub snapshots_checked: usize,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.error) || !self.affected.is_empty()
    }
}

impl Repo {
    /// Checks the repository's structure; with `read_data`, also reads and hashes every pack.
    pub fn check(&self, read_data: bool) -> Result<CheckReport> {
        let mut opts = CheckOptions::default();
        opts.read_data = read_data;
        self.check_with(opts)
    }

    /// Checks the structure and reads part `part` (1-based) of `parts` of the packs, chosen by
    /// pack id: running parts 1..=parts in turn reads every pack once.
    pub fn check_part(&self, part: u32, parts: u32) -> Result<CheckReport> {
        let mut opts = CheckOptions::default();
        opts.read_data = true;
        opts.read_data_subset = rustic_core::ReadSubsetOption::IdSubSet((part, parts));
        self.check_with(opts)
    }

    fn check_with(&self, opts: CheckOptions) -> Result<CheckReport> {
        let _lock = self.lock(crate::LockKind::Shared)?;
        let repo = self.handle()?;
        let results = repo.check(opts).map_err(|e| storage("the check could not run", *e))?;
        let findings: Vec<CheckFinding> = results
            .0
            .iter()
            .map(|(level, err)| CheckFinding {
                error: format!("{level:?}") == "Error",
                message: in_our_words(err.to_string().lines().next().unwrap_or_default().trim()),
            })
            .collect();
        let suspects: Vec<String> = findings.iter().filter(|f| f.error).flat_map(|f| hex_ids(&f.message)).collect();

        let snapshots = crate::repository::all_snapshots(&repo)?;
        let affected = match repo.to_indexed() {
            Ok(indexed) => {
                let packs: HashSet<String> = indexed
                    .list::<rustic_core::repofile::PackId>()
                    .map_err(|e| storage("could not list the packs", *e))?
                    .map(|id| id.to_hex().to_string())
                    .collect();
                snapshots
                    .iter()
                    .filter(|snap| !snapshot_is_whole(&indexed, snap, &packs, &suspects))
                    .map(SnapshotInfo::from_rustic)
                    .collect()
            }
            // Without an index no snapshot can be restored.
            Err(_) => snapshots.iter().map(SnapshotInfo::from_rustic).collect(),
        };
        Ok(CheckReport { findings, affected, snapshots_checked: snapshots.len() })
    }
}

/// Every tree of the snapshot readable and every data blob indexed in a present, unsuspected pack.
fn snapshot_is_whole(repo: &Repository<IndexedFullStatus>, snap: &SnapshotFile, packs: &HashSet<String>, suspects: &[String]) -> bool {
    // rustic names packs by an id prefix in its messages, so match prefixes.
    let suspect = |id: &str| suspects.iter().any(|s| id.starts_with(s.as_str()));
    if suspect(&snap.tree.to_hex()) {
        return false;
    }
    let mut root = Node::new_node(OsStr::new(""), NodeType::Dir, Metadata::default());
    root.subtree = Some(snap.tree);
    let mut opts = LsOptions::default();
    opts.recursive = true;
    let Ok(nodes) = repo.ls(&root, &opts) else { return false };
    for item in nodes {
        let Ok((_, node)) = item else { return false };
        if let Some(subtree) = node.subtree
            && suspect(&subtree.to_hex())
        {
            return false;
        }
        for blob in node.content.iter().flatten() {
            let Ok(entry) = repo.get_index_entry(blob) else { return false };
            let pack = entry.pack.to_hex().to_string();
            if !packs.contains(&pack) || suspect(&pack) || suspect(&blob.to_hex()) {
                return false;
            }
        }
    }
    true
}

/// rustic's message for a finding, with what lifeboat (not rustic) does about it.
///
/// A pack that no index names is what a writer killed mid-backup leaves behind (or a backup
/// running right now is still writing): it holds no snapshot's data, and prune, which runs
/// alone under the exclusive lock, removes it.
fn in_our_words(message: &str) -> String {
    match message.strip_prefix("pack ").and_then(|rest| rest.split_once(" not referenced in index")) {
        Some((id, _)) => format!(
            "pack {id} is named by no index: left by an interrupted backup (or being written by one running now); \
             no snapshot needs it, and `lifeboat forget --prune` removes it"
        ),
        None => message.to_string(),
    }
}

/// The hex ids (or id prefixes of at least 8 digits) a message names.
fn hex_ids(message: &str) -> impl Iterator<Item = String> + '_ {
    message.split(|c: char| !c.is_ascii_hexdigit()).filter(|word| (8..=64).contains(&word.len())).map(str::to_ascii_lowercase)
}
