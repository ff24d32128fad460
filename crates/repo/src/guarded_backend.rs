//! The storage backend every lifeboat repository is opened through.
//!
//! rustic's archiver logs and *skips* a file whose reader fails (or whose pack write fails)
//! and then still writes the snapshot. For a database that would be a silently partial backup.
//! So during a backup the [`CommitGate`] counts the streams that were read to their end and
//! records the first failure of a source read or a storage write; the snapshot file, which
//! rustic writes last, is refused unless every stream finished and nothing failed. A refused
//! backup leaves only unreferenced packs, which `prune` removes, and never a snapshot
//! (DESIGN.md decision 5). Durability is the store's promise (`storage/`).
//!
//! Everything else is passed through unchanged.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
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

/// A backend that enforces the [`CommitGate`].
#[derive(Debug)]
pub(crate) struct GuardedBackend {
    inner: Arc<dyn WriteBackend>,
    /// The backup this backend writes for, if any. With a gate, the archiver's snapshot file
    /// is never written: it is refused while the backup is incomplete and held back once it
    /// is complete, for the writer to publish with the streams' true sizes (`sizes.rs`).
    gate: Option<Arc<CommitGate>>,
}

impl GuardedBackend {
    pub(crate) fn new(inner: Arc<dyn WriteBackend>, gate: Option<Arc<CommitGate>>) -> Self {
        Self { inner, gate }
    }
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
        self.inner.create()
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
            let text = crate::error::cause_text(&err);
            let disk_full = text.contains("No space left") || text.contains("os error 28");
            fail(Failure::storage(format!("writing to the repository failed: {text}"), disk_full));
            return Err(err);
        }
        Ok(())
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
