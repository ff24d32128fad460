//! Reading the streams of one snapshot back.

use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use rustic_core::{
    IndexedFullStatus, LsOptions, Repository,
    repofile::{NodeType, SnapshotFile},
};

use crate::{
    cancel::{self, CancelToken},
    error::{RepoError, RepoErrorKind, Result, RusticMessage, rustic_text, storage},
    lock::{LockKind, RepoLock},
    repository::{Repo, SnapshotInfo},
    write::MANIFEST,
};

/// One stream of a snapshot: its name relative to the snapshot's root, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub name: String,
    pub bytes: u64,
}

/// The repository with its index loaded, for reading any number of snapshots.
#[derive(Clone)]
pub struct IndexedRepo {
    repo: Arc<Repository<IndexedFullStatus>>,
    job: Job,
    /// Held while anything reads through this handle: a prune must not remove what it reads.
    _lock: Arc<RepoLock>,
}

/// A snapshot opened for reading.
#[derive(Clone)]
pub struct SnapshotReader {
    repo: Arc<Repository<IndexedFullStatus>>,
    snap: SnapshotFile,
    info: SnapshotInfo,
    job: Job,
    _lock: Arc<RepoLock>,
}

/// The job a reader works for: reads stop when it is cancelled and count into its progress.
#[derive(Clone)]
struct Job {
    cancel: CancelToken,
    progress: Option<Arc<AtomicU64>>,
}

impl Repo {
    /// Loads the index once, for reading snapshots.
    pub fn indexed(&self) -> Result<IndexedRepo> {
        // Locked before the index is read, so no prune removes packs the index names.
        let lock = Arc::new(self.lock(LockKind::Shared)?);
        let repo = self.handle()?.to_indexed().map_err(|e| storage("could not read the repository index", *e))?;
        Ok(IndexedRepo { repo: Arc::new(repo), job: Job { cancel: self.cancel.clone(), progress: self.progress.clone() }, _lock: lock })
    }

    /// Opens snapshot `id` (a full id, as listed by [`Repo::snapshots`]) for reading.
    pub fn reader(&self, id: &str) -> Result<SnapshotReader> {
        self.indexed()?.snapshot(id)
    }
}

impl IndexedRepo {
    /// Opens snapshot `id` for reading.
    pub fn snapshot(&self, id: &str) -> Result<SnapshotReader> {
        let snap = self.repo.get_snapshot_from_str(id, |_| true).map_err(|e| {
            RepoError::new(
                RepoErrorKind::SnapshotNotFound,
                format!("snapshot {id} cannot be read"),
                "list snapshots with `lifeboat snapshots`",
            )
            .with_source(RusticMessage(rustic_text(&e)))
        })?;
        let info = SnapshotInfo::from_rustic(&snap);
        Ok(SnapshotReader { repo: self.repo.clone(), snap, info, job: self.job.clone(), _lock: self._lock.clone() })
    }
}

/// Stops a long copy when its job is cancelled, and counts what it wrote into the job's
/// progress.
struct JobWriter<'a> {
    out: &'a mut dyn Write,
    job: &'a Job,
}

impl Write for JobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.job.cancel.is_cancelled() {
            return Err(cancel::error());
        }
        let n = self.out.write(buf)?;
        if let Some(progress) = &self.job.progress {
            progress.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl SnapshotReader {
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// The folder inside the snapshot that holds the streams, e.g. `/sqlite/app`.
    pub fn root(&self) -> String {
        self.info.paths.first().cloned().unwrap_or_default()
    }

    fn path_of(&self, name: &str) -> String {
        format!("{}/{}", self.root().trim_end_matches('/'), name)
    }

    /// Every stream of the snapshot except the manifest, sorted by name.
    pub fn streams(&self) -> Result<Vec<StreamEntry>> {
        let root = self.root();
        let node = self
            .repo
            .node_from_snapshot_and_path(&self.snap, &root)
            .map_err(|e| storage(format!("snapshot {} has no folder {root}", self.info.short_id()), *e))?;
        let mut opts = LsOptions::default();
        opts.recursive = true;
        let mut entries = Vec::new();
        for item in self.repo.ls(&node, &opts).map_err(|e| storage("could not list the snapshot", *e))? {
            let (path, node) = item.map_err(|e| storage("could not list the snapshot", *e))?;
            if node.node_type == NodeType::File {
                let name = path.to_string_lossy().trim_start_matches('/').to_string();
                if name != MANIFEST {
                    entries.push(StreamEntry { name, bytes: node.meta.size });
                }
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Writes stream `name` to `out` and returns the number of bytes written.
    ///
    /// Errors: [`RepoErrorKind::StreamNotFound`] if the snapshot has no such stream;
    /// [`RepoErrorKind::Storage`] if a pack is missing or damaged, or `out` fails.
    pub fn read(&self, name: &str, out: &mut dyn Write) -> Result<u64> {
        let path = self.path_of(name);
        let node = self.repo.node_from_snapshot_and_path(&self.snap, &path).map_err(|e| {
            RepoError::new(
                RepoErrorKind::StreamNotFound,
                format!("snapshot {} has no stream `{name}`", self.info.short_id()),
                "see what it holds with `lifeboat show <SNAPSHOT>`",
            )
            .with_source(RusticMessage(rustic_text(&e)))
        })?;
        let mut counting = CountingWriter { inner: JobWriter { out, job: &self.job }, bytes: 0, failed: None };
        self.repo.dump(&node, &mut counting).map_err(|e| {
            if let Some(failed) = counting.failed.take() {
                // The output failed (its disk full, say), not the repository: its own error.
                RepoError::new(RepoErrorKind::Output, format!("writing `{name}` out failed"), "").with_source(failed)
            } else if self.job.cancel.is_cancelled() {
                RepoError::new(RepoErrorKind::Storage, format!("reading `{name}` was interrupted"), "nothing was changed")
            } else {
                storage(format!("could not read `{name}` from snapshot {}", self.info.short_id()), *e)
            }
        })?;
        Ok(counting.bytes)
    }

    /// The manifest's bytes.
    pub fn manifest(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read(MANIFEST, &mut bytes)?;
        Ok(bytes)
    }
}

/// Counts what is written, and keeps the writer's own error: rustic reports it as its own
/// failure, which would blame the repository for the output's full disk.
struct CountingWriter<W> {
    inner: W,
    bytes: u64,
    failed: Option<io::Error>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(err) => {
                let echo = io::Error::new(err.kind(), err.to_string());
                self.failed = Some(err);
                Err(echo)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
