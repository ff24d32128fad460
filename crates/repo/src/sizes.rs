//! Trees that record each stream's true size, written before the snapshot is published.
//!
//! rustic's archiver takes a file's size from its source entry before reading it, and a
//! stream's length is known only at its end, so every file node of a lifeboat snapshot would
//! say 0 bytes. `restic dump` does not care, but `restic restore` trusts the size and writes
//! empty files, and `restic ls -l` shows zeros. So the archiver's snapshot is held back by the
//! commit gate, and here the trees from the snapshot's root down to each stream are written
//! again with the sizes the streams turned out to have: a small pack of tree blobs plus an
//! index file for it, both in restic's documented formats (`doc/design.rst`: "Pack Format",
//! "Indexing", "Trees and Data"). Only then is the snapshot file written, pointing at the new
//! root. The archiver's own trees stay as unreferenced leftovers of a few hundred bytes, which
//! prune removes.

use std::collections::BTreeMap;

use rustic_core::{FileType, Id, IndexedIdsStatus, Repository, WriteBackend, repofile::SnapshotFile};
use serde::Serialize;

use crate::{
    crypto::{Cipher, id_of},
    error::{RepoError, RepoErrorKind, Result, RusticMessage, storage},
    repository::Repo,
};

/// restic's pack header type of an uncompressed tree blob.
const TREE_BLOB: u8 = 1;

/// A tree blob to store: its id and its plaintext (the tree's JSON).
struct NewTree {
    id: String,
    json: Vec<u8>,
}

/// One entry of an index file, as restic writes it.
#[derive(Serialize, schemars::JsonSchema)]
struct IndexedBlob<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    offset: u32,
    length: u32,
}

#[derive(Serialize, schemars::JsonSchema)]
struct IndexedPack<'a> {
    id: &'a str,
    blobs: Vec<IndexedBlob<'a>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct IndexFile<'a> {
    packs: Vec<IndexedPack<'a>>,
}

fn internal(context: impl Into<String>, why: impl std::fmt::Display) -> RepoError {
    RepoError::new(RepoErrorKind::Internal, context, "this is a bug in lifeboat; no snapshot was written")
        .with_source(RusticMessage(why.to_string()))
}

impl Repo {
    /// Writes `snap` (as the archiver built it, not yet stored) with every file node under it
    /// carrying the size `sizes` gives for its path (`/sqlite/app/database.sqlite`). Returns
    /// the snapshot as stored, with its id.
    pub(crate) fn publish_with_sizes(&self, mut snap: SnapshotFile, sizes: &BTreeMap<String, u64>) -> Result<SnapshotFile> {
        let repo = self.handle()?.to_indexed_ids().map_err(|e| storage("could not read the repository index", *e))?;
        let mut new_trees = Vec::new();
        snap.tree = rewrite(&repo, snap.tree, "", sizes, &mut new_trees)?;
        let cipher = Cipher::new(&self.key);
        if !new_trees.is_empty() {
            self.store_trees(&cipher, &new_trees)?;
        }
        let json = serde_json::to_vec(&snap).map_err(|e| internal("the snapshot cannot be written as JSON", e))?;
        let sealed = cipher.encrypt(&json);
        let id = id_of(&sealed);
        self.store(FileType::Snapshot, &id, sealed)?;
        snap.id = id.parse::<Id>().map_err(|e| internal("a snapshot id", e))?.into();
        Ok(snap)
    }

    /// Stores `trees` as one pack, then the index that names them: readers find a blob only
    /// through the index, so the pack is complete and durable before anyone can look for it.
    fn store_trees(&self, cipher: &Cipher, trees: &[NewTree]) -> Result<()> {
        let mut pack = Vec::new();
        let mut header = Vec::new();
        let mut placed = Vec::new();
        for tree in trees {
            let sealed = cipher.encrypt(&tree.json);
            let length = u32::try_from(sealed.len()).map_err(|e| internal("a tree blob is too large", e))?;
            let offset = u32::try_from(pack.len()).map_err(|e| internal("a tree pack is too large", e))?;
            header.push(TREE_BLOB);
            header.extend_from_slice(&length.to_le_bytes());
            header.extend_from_slice(&hex::decode(&tree.id).map_err(|e| internal("a tree id", e))?);
            pack.extend_from_slice(&sealed);
            placed.push(IndexedBlob { id: &tree.id, kind: "tree", offset, length });
        }
        let sealed_header = cipher.encrypt(&header);
        pack.extend_from_slice(&sealed_header);
        pack.extend_from_slice(&(sealed_header.len() as u32).to_le_bytes());
        let pack_id = id_of(&pack);
        self.store(FileType::Pack, &pack_id, pack)?;

        let index = IndexFile { packs: vec![IndexedPack { id: &pack_id, blobs: placed }] };
        let sealed = cipher.encrypt(&serde_json::to_vec(&index).map_err(|e| internal("the index cannot be written as JSON", e))?);
        let index_id = id_of(&sealed);
        self.store(FileType::Index, &index_id, sealed)
    }

    /// Writes one file to the repository's storage; durable when this returns.
    fn store(&self, tpe: FileType, id: &str, bytes: Vec<u8>) -> Result<()> {
        let id = id.parse::<Id>().map_err(|e| internal("a file id", e))?;
        self.files()
            .write_bytes(tpe, &id, tpe != FileType::Pack, bytes.into())
            .map_err(|e| storage("could not write to the repository", *e))
    }
}

/// The tree `id` at `path` again, with the sizes of its files from `sizes` and its subtrees
/// rewritten likewise; returns the new tree's id and adds every changed tree to `out`.
fn rewrite(
    repo: &Repository<IndexedIdsStatus>,
    id: rustic_core::TreeId,
    path: &str,
    sizes: &BTreeMap<String, u64>,
    out: &mut Vec<NewTree>,
) -> Result<rustic_core::TreeId> {
    let mut tree = repo.get_tree(&id).map_err(|e| storage("could not read a tree of the new snapshot", *e))?;
    for node in &mut tree.nodes {
        let node_path = format!("{path}/{}", node.name().to_string_lossy());
        if let Some(subtree) = node.subtree {
            node.subtree = Some(rewrite(repo, subtree, &node_path, sizes, out)?);
        } else if let Some(&size) = sizes.get(&node_path) {
            node.meta.size = size;
        }
    }
    let (json, new_id) = tree.serialize().map_err(|e| internal("a tree cannot be written as JSON", e))?;
    if new_id != id && !out.iter().any(|t| t.id == new_id.to_hex().as_str()) {
        out.push(NewTree { id: new_id.to_hex().to_string(), json });
    }
    Ok(new_id)
}
