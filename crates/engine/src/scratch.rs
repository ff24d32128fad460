//! Restoring a backup's image into a scratch folder, for drills, reports and exports.
//!
//! Every path that reads a backup back goes through [`read_verified`], which compares each
//! stream's SHA-256 with the manifest while writing it, so no caller can forget to.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use lifeboat_repo::{Repo, Sha256, SnapshotReader};
use lifeboat_sources::{
    frames,
    sqlite::{IMAGE_STREAM, RestoredCopy, write_copy},
};

use crate::{
    EngineError, Result,
    manifest::{BackupEntry, Manifest},
    select,
};

/// Hashes what passes through, to compare with the manifest afterwards.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads stream `name` of the snapshot, decodes it if it is stored in frames, and writes its
/// content into `out`. Fails unless the stored bytes are exactly those the manifest recorded
/// (a caller must discard what was written when it fails). Returns the stored bytes.
pub(crate) fn read_verified(reader: &SnapshotReader, manifest: &Manifest, name: &str, out: &mut dyn Write) -> Result<u64> {
    let expected = manifest.stream(name).ok_or_else(|| EngineError::Mismatch {
        context: format!("snapshot {} has no stream `{name}` in its manifest", reader.info().short_id()),
        hint: "it was written by another engine or version of lifeboat".into(),
    })?;
    let damaged = |what: String| EngineError::Mismatch {
        context: format!("stream `{name}` of snapshot {} {what}", reader.info().short_id()),
        hint: "the repository is damaged: run `lifeboat check --read-data` and restore an older snapshot".into(),
    };
    let mut decoding = frames::decoding_writer(name, out).map_err(|e| damaged(format!("cannot be decoded: {e}")))?;
    let mut hashing = HashingWriter { inner: &mut decoding, hasher: Sha256::default() };
    let bytes = reader.read(name, &mut hashing)?;
    if hashing.hasher.finish() != expected.sha256 {
        return Err(damaged("does not match its manifest's SHA-256".into()));
    }
    decoding.flush().map_err(|e| damaged(format!("cannot be decoded: {e}")))?;
    Ok(bytes)
}

/// Writes the snapshot's database image as a copy for `target`, verified by [`read_verified`].
pub(crate) fn write_checked_copy(reader: &SnapshotReader, manifest: &Manifest, target: &Path) -> Result<RestoredCopy> {
    let mut failure = None;
    let copy = write_copy(target, |out| {
        read_verified(reader, manifest, IMAGE_STREAM, out).map_err(|err| {
            let text = err.to_string();
            failure = Some(err);
            text
        })
    });
    match failure {
        Some(err) => Err(err),
        None => Ok(copy?),
    }
}

/// A temporary folder that is removed with everything in it when dropped.
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    /// A new folder under `parent`, or the system's temporary folder.
    pub(crate) fn new(parent: Option<&Path>) -> Result<Self> {
        let builder =
            || tempfile::Builder::new().prefix("lifeboat-scratch-").tempdir_in(parent.map_or_else(std::env::temp_dir, Path::to_path_buf));
        let dir = builder().map_err(|e| {
            EngineError::input(format!("cannot create a scratch folder: {e}"), "pass --scratch DIR on a disk with room for the database")
        })?;
        Ok(Self { dir })
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sqlite"))
    }
}

/// A backup restored into a scratch folder: the folder (removed when dropped), the checked
/// copy inside it, and the backup's manifest.
pub(crate) struct ScratchCopy {
    pub(crate) copy: RestoredCopy,
    pub(crate) manifest: Manifest,
    // Dropped last: the copy lives inside it.
    _dir: ScratchDir,
}

impl ScratchCopy {
    pub(crate) fn restore(repo: &Repo, snapshot: &BackupEntry, scratch: Option<&Path>) -> Result<Self> {
        let dir = ScratchDir::new(scratch)?;
        let reader = repo.reader(&snapshot.id)?;
        let manifest = select::manifest(&reader)?;
        let copy = write_checked_copy(&reader, &manifest, &dir.file(&snapshot.summary.database))?;
        Ok(Self { copy, manifest, _dir: dir })
    }
}
