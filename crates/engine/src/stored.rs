//! Reading a backup back. Every path that does goes through [`read_verified`], which compares
//! each stream's SHA-256 with the manifest while writing it, so no caller can forget to.

use std::io::Write;

use lifeboat_repo::{BackgroundSha256, Repo, SnapshotReader};
use lifeboat_sources::{BackupStreams, Catalog, frames};

use crate::{
    EngineError, Result,
    manifest::{BackupEntry, Manifest},
    select,
};

/// Hashes what passes through, to compare with the manifest afterwards.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: BackgroundSha256,
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
    let mut hashing = HashingWriter { inner: &mut decoding, hasher: BackgroundSha256::new() };
    let bytes = reader.read(name, &mut hashing)?;
    if hashing.hasher.finish() != expected.sha256 {
        return Err(damaged("does not match its manifest's SHA-256".into()));
    }
    decoding.flush().map_err(|e| damaged(format!("cannot be decoded: {e}")))?;
    Ok(bytes)
}

/// A backup opened for reading back: its manifest, and its streams through [`read_verified`].
pub(crate) struct StoredBackup {
    reader: SnapshotReader,
    pub(crate) manifest: Manifest,
    short_id: String,
}

impl StoredBackup {
    pub(crate) fn open(repo: &Repo, snapshot: &BackupEntry) -> Result<Self> {
        let reader = repo.reader(&snapshot.id)?;
        let manifest = select::manifest(&reader)?;
        Ok(Self { reader, manifest, short_id: snapshot.short_id.clone() })
    }
}

impl BackupStreams for StoredBackup {
    fn id(&self) -> &str {
        &self.short_id
    }

    fn catalog(&self) -> &Catalog {
        &self.manifest.catalog
    }

    fn source(&self) -> &str {
        &self.manifest.source
    }

    fn has_stream(&self, name: &str) -> bool {
        self.manifest.stream(name).is_some()
    }

    fn read(&self, name: &str, out: &mut dyn Write) -> std::io::Result<u64> {
        // The engine's error travels inside the I/O error as a value, and comes out again as
        // itself where the engine receives the engine's failure (see `EngineError::from`).
        read_verified(&self.reader, &self.manifest, name, out).map_err(std::io::Error::other)
    }
}
