//! Restoring a backup's image into a scratch folder, for drills, reports and exports.
//!
//! Every path that reads a database back goes through [`write_checked_copy`], which compares
//! the stream's SHA-256 with the manifest while writing, so no caller can forget to.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use lifeboat_repo::{Repo, SnapshotReader};
use lifeboat_sources::sqlite::{IMAGE_STREAM, RestoredCopy, write_copy};
use sha2::{Digest, Sha256};

use crate::{EngineError, Result, manifest::{BackupEntry, Manifest}, select};

/// Hashes what passes through, to compare with the manifest afterwards.
pub(crate) struct HashingWriter<'a> {
    pub(crate) inner: &'a mut dyn Write,
    pub(crate) hasher: Sha256,
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

/// Writes the snapshot's database image as a copy for `target` and checks that its bytes are
/// exactly those recorded in the manifest.
pub(crate) fn write_checked_copy(reader: &SnapshotReader, manifest: &Manifest, target: &Path) -> Result<RestoredCopy> {
    let expected = manifest.stream(IMAGE_STREAM).ok_or_else(|| EngineError::Mismatch {
        context: format!("snapshot {} has no database image in its manifest", reader.info().short_id()),
        hint: "it was not written by lifeboat's SQLite engine".into(),
    })?;
    let mut actual = String::new();
    let mut read_error = None;
    let copy = write_copy(target, |out| {
        let mut hashing = HashingWriter { inner: out, hasher: Sha256::new() };
        match reader.read(IMAGE_STREAM, &mut hashing) {
            Ok(bytes) => {
                actual = hex::encode(hashing.hasher.finalize());
                Ok(bytes)
            }
            Err(err) => {
                let text = err.to_string();
                read_error = Some(err);
                Err(text)
            }
        }
    });
    if let Some(err) = read_error {
        return Err(EngineError::Repo(err));
    }
    let copy = copy?;
    if actual != expected.sha256 {
        return Err(EngineError::Mismatch {
            context: format!("the database image of snapshot {} does not match its manifest's SHA-256", reader.info().short_id()),
            hint: "the repository is damaged: run `lifeboat check --read-data` and restore an older snapshot".into(),
        });
    }
    Ok(copy)
}

/// A temporary folder that is removed with everything in it when dropped.
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    /// A new folder under `parent`, or the system's temporary folder.
    pub(crate) fn new(parent: Option<&Path>) -> Result<Self> {
        let builder = || tempfile::Builder::new().prefix("lifeboat-scratch-").tempdir_in(parent.map_or_else(std::env::temp_dir, Path::to_path_buf));
        let dir = builder().map_err(|e| EngineError::input(format!("cannot create a scratch folder: {e}"), "pass --scratch DIR on a disk with room for the database"))?;
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
