//! The storage backend every lifeboat repository is opened through.
//!
//! Two promises of DESIGN.md (decision 5) cannot be kept by rustic alone, so this wrapper keeps
//! them for every backend underneath it:
//!
//! * **A snapshot becomes visible only when the backup is complete.** rustic's archiver logs and
//!   *skips* a file whose reader fails (or whose pack write fails) and then still writes the
//!   snapshot. For a database that would be a silently partial backup. So during a backup the
//!   [`CommitGate`] counts the streams that were read to their end and records the first failure
//!   of a source read or a storage write; the snapshot file, which rustic writes last, is refused
//!   unless every stream finished and nothing failed. A refused backup leaves only unreferenced
//!   packs, which `prune` removes, and never a snapshot.
//! * **Done means durable.** rustic's local backend syncs each file but not the directory the
//!   file was renamed into, so a power cut can lose a file that was reported written. On a local
//!   repository we sync that directory after each write.
//!
//! Everything else is passed through unchanged.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use rustic_core::{BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend};

/// Decides whether the snapshot file of one backup may be written. Each backup has its own
/// gate (and its own backend around it), so a failed backup never blocks another one running
/// in the same process.
#[derive(Debug, Default)]
pub(crate) struct CommitGate {
    expected: AtomicUsize,
    completed: AtomicUsize,
    failure: Mutex<Option<Failure>>,
}

/// Why a backup failed: reading a source, or writing to the storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The storage failed (disk full, unreachable); else a source stream did.
    pub(crate) storage: bool,
    /// What failed, with the underlying error's words.
    pub(crate) message: String,
    /// The storage ran out of space.
    pub(crate) disk_full: bool,
}

impl Failure {
    pub(crate) fn source(message: String) -> Self {
        Self { storage: false, message, disk_full: false }
    }

    pub(crate) fn storage(message: String, disk_full: bool) -> Self {
        Self { storage: true, message, disk_full }
    }
}

impl CommitGate {
    /// The gate of a backup of `streams` streams: its snapshot is refused until each one
    /// completed.
    pub(crate) fn new(streams: usize) -> Self {
        Self { expected: AtomicUsize::new(streams), ..Self::default() }
    }

    /// A stream was read to its end.
    pub(crate) fn stream_completed(&self) {
        self.completed.fetch_add(1, Ordering::SeqCst);
    }

    /// Every stream so far was read to its end.
    pub(crate) fn all_completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst) >= self.expected.load(Ordering::SeqCst)
    }

    /// Records a failure; the first one is kept because later ones are usually its echoes.
    pub(crate) fn fail(&self, why: Failure) {
        let mut failure = self.failure.lock().expect("gate lock");
        if failure.is_none() {
            *failure = Some(why);
        }
    }

    /// Why the backup failed, if it did.
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.failure.lock().expect("gate lock").clone()
    }

    fn refusal(&self) -> Option<String> {
        if let Some(why) = self.failure() {
            return Some(why.message);
        }
        (!self.all_completed()).then(|| {
            format!(
                "only {} of {} streams were read completely",
                self.completed.load(Ordering::SeqCst),
                self.expected.load(Ordering::SeqCst)
            )
        })
    }
}

/// A backend that enforces the [`CommitGate`] and, for local folders, directory durability.
#[derive(Debug)]
pub(crate) struct GuardedBackend {
    inner: Arc<dyn WriteBackend>,
    /// The repository folder when the storage is a local file system.
    local_root: Option<PathBuf>,
    /// The backup this backend writes for, if any. With a gate, the archiver's snapshot file
    /// is never written: it is refused while the backup is incomplete and held back once it
    /// is complete, for the writer to publish with the streams' true sizes (`sizes.rs`).
    gate: Option<Arc<CommitGate>>,
}

impl GuardedBackend {
    pub(crate) fn new(inner: Arc<dyn WriteBackend>, local_root: Option<PathBuf>, gate: Option<Arc<CommitGate>>) -> Self {
        Self { inner, local_root, gate }
    }

    /// The folder a file of this type and id lives in, in restic's layout.
    fn folder_of(root: &Path, tpe: FileType, id: &Id) -> PathBuf {
        match tpe {
            FileType::Config => root.to_path_buf(),
            FileType::Pack => root.join(tpe.dirname()).join(&id.to_hex()[..2]),
            _ => root.join(tpe.dirname()),
        }
    }
}

/// fsync of a directory, so that the names created in it survive a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn io_error(context: &str, path: &Path, err: std::io::Error) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::InputOutput, "{context} `{path}`", err)
        .attach_context("context", context.to_string())
        .attach_context("path", path.display().to_string())
}

impl ReadBackend for GuardedBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<bytes::Bytes> {
        self.inner.read_full(tpe, id)
    }

    fn read_partial(&self, tpe: FileType, id: &Id, cacheable: bool, offset: u32, length: u32) -> RusticResult<bytes::Bytes> {
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }

    fn needs_warm_up(&self) -> bool {
        self.inner.needs_warm_up()
    }

    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.inner.warm_up(tpe, id)
    }
}

impl WriteBackend for GuardedBackend {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()?;
        if let Some(root) = &self.local_root {
            // Make the whole fresh layout durable: every folder, then the root's own entry.
            let mut dirs = vec![root.clone()];
            for tpe in [FileType::Index, FileType::Key, FileType::Snapshot, FileType::Pack] {
                dirs.push(root.join(tpe.dirname()));
            }
            let data = root.join(FileType::Pack.dirname());
            if let Ok(entries) = std::fs::read_dir(&data) {
                dirs.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                dirs.push(parent.to_path_buf());
            }
            for dir in dirs.iter().filter(|d| d.is_dir()) {
                sync_dir(dir).map_err(|err| io_error("could not sync the folder", dir, err))?;
            }
        }
        Ok(())
    }

    fn write_bytes(&self, tpe: FileType, id: &Id, cacheable: bool, content: BytesList) -> RusticResult<()> {
        if tpe == FileType::Snapshot
            && let Some(gate) = &self.gate
        {
            return match gate.refusal() {
                Some(why) => Err(RusticError::new(ErrorKind::Internal, "the backup is incomplete, so no snapshot was written: {why}")
                    .attach_context("why", why)),
                None => Ok(()),
            };
        }
        let fail = |why: Failure| {
            if let Some(gate) = &self.gate {
                gate.fail(why);
            }
        };
        if let Err(err) = self.inner.write_bytes(tpe, id, cacheable, content) {
            let text = crate::error::rustic_text(&err);
            let disk_full = text.contains("No space left") || text.contains("os error 28");
            fail(Failure::storage(format!("writing to the repository failed: {text}"), disk_full));
            return Err(err);
        }
        if let Some(root) = &self.local_root {
            let dir = Self::folder_of(root, tpe, id);
            if let Err(err) = sync_dir(&dir) {
                let disk_full = err.raw_os_error() == Some(28);
                fail(Failure::storage(format!("syncing {} failed: {err}", dir.display()), disk_full));
                return Err(io_error("could not sync the folder", &dir, err));
            }
        }
        Ok(())
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)?;
        // A removal not yet on disk can come back after a power cut: a forgotten snapshot
        // would reappear, pointing at data a prune already deleted.
        if let Some(root) = &self.local_root {
            let dir = Self::folder_of(root, tpe, id);
            sync_dir(&dir).map_err(|err| io_error("could not sync the folder", &dir, err))?;
        }
        Ok(())
    }
}
