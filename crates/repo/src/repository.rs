//! Opening and creating repositories, and the snapshot list.
//!
//! A [`Repo`] is cheap to clone and each operation that reads the index opens it afresh:
//! rustic's indexed handle does not see blobs written after it was loaded, so a long-lived
//! one would miss our own new backups (DESIGN.md decision 1).

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use rustic_core::{
    ConfigOptions, Credentials, KeyOptions, OpenStatus, Repository, RepositoryBackends, RepositoryOptions, WriteBackend,
    repofile::MasterKey, repofile::SnapshotFile,
};

use crate::{
    cancel::CancelToken,
    crypto::Cipher,
    error::{RepoError, RepoErrorKind, Result, storage},
    guarded_backend::{CommitGate, GuardedBackend},
    keyfile,
    lock::{LockKind, Locks, RepoLock},
    progress::JobProgress,
    storage::{self, Location, Store, StoreBackend},
};

/// A snapshot as lifeboat sees it: rustic's snapshot file without rustic types.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// The full hex id.
    pub id: String,
    pub time: jiff::Timestamp,
    pub hostname: String,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    /// Free text; lifeboat keeps a JSON summary of the backup here.
    pub description: Option<String>,
    /// Bytes the backup read from its sources.
    pub bytes_processed: u64,
    /// Bytes (before compression) the backup added to the repository.
    pub bytes_added: u64,
    /// Bytes (after compression) the backup added to the repository.
    pub bytes_added_packed: u64,
}

impl SnapshotInfo {
    pub(crate) fn from_rustic(snap: &SnapshotFile) -> Self {
        let summary = snap.summary.as_ref();
        Self {
            id: snap.id.to_hex().to_string(),
            time: snap.time.timestamp(),
            hostname: snap.hostname.clone(),
            tags: snap.tags.iter().cloned().collect(),
            paths: snap.paths.iter().cloned().collect(),
            description: snap.description.clone(),
            bytes_processed: summary.map_or(0, |s| s.total_bytes_processed),
            bytes_added: summary.map_or(0, |s| s.data_added),
            bytes_added_packed: summary.map_or(0, |s| s.data_added_packed),
        }
    }

    /// The first eight hex digits, as restic prints them.
    pub fn short_id(&self) -> &str {
        &self.id[..8.min(self.id.len())]
    }
}

/// An open repository: the password was checked once; each operation opens a fresh handle
/// with the master key it unlocked (no second key derivation).
#[derive(Clone)]
pub struct Repo {
    base: Repository<()>,
    pub(crate) key: MasterKey,
    /// The key file the password opened (`None` when opened with the master key alone).
    pub(crate) key_id: Option<String>,
    /// Where the repository's files are kept; every handle reads and writes through it.
    pub(crate) store: Arc<dyn Store>,
    location: Location,
    locks: Locks,
    lock_wait: Duration,
    /// The job this handle works for: its cancel token and its progress counter.
    pub(crate) cancel: CancelToken,
    pub(crate) progress: Option<Arc<AtomicU64>>,
    /// Milliseconds this job's handle waited for other jobs' locks.
    lock_waited: Arc<AtomicU64>,
}

/// How long a job waits for a conflicting lock unless told otherwise.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10 * 60);

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("location", &self.location).finish()
    }
}

/// A repository handle not yet opened on `store`; with `gate`, it serves one backup (see
/// `guarded_backend.rs`).
pub(crate) fn unopened(store: &Arc<dyn Store>, gate: Option<Arc<CommitGate>>, progress: Option<Arc<AtomicU64>>) -> Result<Repository<()>> {
    let backend: Arc<dyn WriteBackend> = Arc::new(StoreBackend(store.clone()));
    let guarded: Arc<dyn WriteBackend> = Arc::new(GuardedBackend::new(backend, gate));
    let backends = RepositoryBackends::new(guarded, None);
    // No cache: a backup tool must not fill $HOME behind the user's back, and local reads are
    // as fast as a cache would be.
    let opts = RepositoryOptions::default().no_cache(true);
    Repository::new_with_progress(&opts, &backends, JobProgress(progress))
        .map_err(|e| storage(format!("cannot open repository {}", store.describe()), *e))
}

/// The size of every chunk (but a stream's last) in repositories lifeboat creates.
pub const CHUNK_SIZE: u64 = 256 << 10;

/// Fixed-size chunks of [`CHUNK_SIZE`] bytes instead of restic's content-defined ones.
///
/// Content-defined chunking rolls a hash over every byte so that an insertion moves the cuts
/// with it; the streams lifeboat stores do not need that. A SQLite image changes pages in place,
/// never shifting the bytes after them, and a table's stream is a series of zstd frames that
/// each start on a multiple of the chunk size (`lifeboat_sources::frames`), so an unchanged
/// frame is always the same chunks. The rolling hash cost about a tenth of a PostgreSQL
/// backup's CPU. The chunk size is small enough that one changed page or frame stays a small
/// change, and large enough to keep the index (and rustic's per-blob work) small. Readers do
/// not care how data was cut: stock restic reads everything (tests/round_trip.rs), and
/// repositories created with restic's chunker keep working.
fn chunking() -> ConfigOptions {
    ConfigOptions::default().set_chunker(rustic_core::repofile::Chunker::FixedSize).set_chunk_size(bytesize::ByteSize::b(CHUNK_SIZE))
}

impl Repo {
    /// Creates a new repository at `location`, protected by `password`.
    ///
    /// Fails with [`RepoErrorKind::AlreadyExists`] when a repository (or any non-empty folder)
    /// is already there: init never writes over existing data.
    pub fn init(location: &Location, password: &str) -> Result<Repo> {
        let store = storage::open(location)?;
        if !store.is_empty()? {
            let kind = if store.exists("config")? { "a repository" } else { "files" };
            return Err(RepoError::new(
                RepoErrorKind::AlreadyExists,
                format!("{} already holds {kind}", location.describe()),
                "choose a new or empty place for the repository; nothing was changed",
            ));
        }
        // The place first (a bucket may have to be created), then rustic writes into it.
        store.create()?;
        let base = unopened(&store, None, None)?;
        let opened = base
            .clone()
            .init(&Credentials::password(password), &KeyOptions::default(), &chunking())
            .map_err(|e| storage(format!("could not create the repository at {}", location.describe()), *e))?;
        // rustic's key is replaced by one of ours, which opens twice as fast (keyfile.rs).
        let key = opened.key();
        let ours = keyfile::write_key(store.as_ref(), &key, password)?;
        if let Some(theirs) = opened.key_id() {
            store.remove(&format!("keys/{}", theirs.to_hex().as_str()))?;
        }
        Ok(Repo::new(base, key, Some(ours), store, location))
    }

    fn new(base: Repository<()>, key: MasterKey, key_id: Option<String>, store: Arc<dyn Store>, location: &Location) -> Self {
        let locks = Locks::new(store.clone(), Cipher::new(&key));
        Repo {
            base,
            key,
            key_id,
            store,
            location: location.clone(),
            locks,
            lock_wait: DEFAULT_LOCK_WAIT,
            cancel: CancelToken::default(),
            progress: None,
            lock_waited: Arc::default(),
        }
    }

    /// Waits up to `wait` for conflicting locks (default [`DEFAULT_LOCK_WAIT`]).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The same repository for one job: `cancel` stops it, `progress` counts the bytes it
    /// reads from its sources or from the repository. Clones are cheap; each job gets its own.
    pub fn for_job(&self, cancel: CancelToken, progress: Option<Arc<AtomicU64>>) -> Result<Self> {
        let base = unopened(&self.store, None, progress.clone())?;
        Ok(Self { base, cancel, progress, lock_waited: Arc::default(), ..self.clone() })
    }

    /// Locks the repository for a job: shared for everything that reads or adds data,
    /// exclusive for removing it (see `lock.rs`). Held until the returned value is dropped.
    pub fn lock(&self, kind: LockKind) -> Result<RepoLock> {
        let (lock, waited) = self.locks.acquire(kind, self.lock_wait, &self.cancel)?;
        self.lock_waited.fetch_add(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX), std::sync::atomic::Ordering::Relaxed);
        Ok(lock)
    }

    /// Whether this job has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// How long this job's handle has waited for other jobs' locks so far.
    pub fn lock_waited(&self) -> Duration {
        Duration::from_millis(self.lock_waited.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Opens the repository at `location` with `password`.
    ///
    /// Errors: [`RepoErrorKind::NotFound`] when there is no repository, and
    /// [`RepoErrorKind::WrongPassword`] when the password opens no key.
    pub fn open(location: &Location, password: &str) -> Result<Repo> {
        let store = storage::open(location)?;
        if !store.exists("config")? {
            let empty_folder = matches!(location, Location::Local(path) if path.is_dir());
            let what = match store.is_empty()? {
                false => "is not a lifeboat repository",
                true if empty_folder => "is not a lifeboat repository (the folder is empty)",
                true => "does not exist",
            };
            return Err(RepoError::new(
                RepoErrorKind::NotFound,
                format!("repository {} {what}", location.describe()),
                "check --repo / LIFEBOAT_REPO, or create one with `lifeboat init`",
            ));
        }
        let base = unopened(&store, None, None)?;
        let opened = base.clone().open(&Credentials::password(password)).map_err(|e| {
            if e.is_incorrect_password() {
                RepoError::new(
                    RepoErrorKind::WrongPassword,
                    format!("the password does not open repository {}", location.describe()),
                    "check LIFEBOAT_PASSWORD or --password-file; the repository itself is unchanged",
                )
            } else {
                storage(format!("cannot open repository {}", location.describe()), *e)
            }
        })?;
        Ok(Repo::new(base, opened.key(), opened.key_id().map(|id| id.to_hex().to_string()), store, location))
    }

    /// A fresh handle for one backup, writing through a backend with the backup's own `gate`.
    pub(crate) fn gated_handle(&self, gate: Arc<CommitGate>) -> Result<Repository<OpenStatus>> {
        let base = unopened(&self.store, Some(gate), self.progress.clone())?;
        base.open(&Credentials::Masterkey(self.key.clone()))
            .map_err(|e| storage(format!("cannot open repository {}", self.location.describe()), *e))
    }

    /// A fresh handle on the repository, seeing everything written so far.
    pub(crate) fn handle(&self) -> Result<Repository<OpenStatus>> {
        self.base
            .clone()
            .open(&Credentials::Masterkey(self.key.clone()))
            .map_err(|e| storage(format!("cannot open repository {}", self.location.describe()), *e))
    }

    /// The repository's files as rustic names them (file type and id), for the few files we
    /// read or write ourselves.
    pub(crate) fn files(&self) -> StoreBackend {
        StoreBackend(self.store.clone())
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What the repository's files take in its storage (packs, index, snapshots, keys).
    pub fn stored_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for folder in ["data", "index", "snapshots", "keys"] {
            total += self.store.list(folder)?.iter().map(|(_, size)| size).sum::<u64>();
        }
        Ok(total)
    }

    /// Every snapshot in the repository, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let mut snaps = all_snapshots(&self.handle()?)?;
        snaps.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(snaps.iter().map(SnapshotInfo::from_rustic).collect())
    }

    /// Removes snapshot files. Their data stays until [`Repo::prune`].
    ///
    /// Idempotent for ids already gone? No: an unknown id is an error, so callers pass ids
    /// they just listed.
    pub fn forget(&self, ids: &[String]) -> Result<()> {
        // Forgetting removes no data, so a backup under way cannot lose what it refers to:
        // a shared lock is enough (only prune needs the repository to itself).
        let _lock = self.lock(LockKind::Shared)?;
        let ids: Vec<_> = ids
            .iter()
            .map(|id| id.parse().map_err(|_| RepoError::new(RepoErrorKind::SnapshotNotFound, format!("`{id}` is not a snapshot id"), "")))
            .collect::<Result<_>>()?;
        self.handle()?.delete_snapshots(&ids).map_err(|e| storage("could not remove snapshots", *e))
    }

    /// Removes data no snapshot references any more, and packs no index names (what a writer
    /// killed mid-backup left). Returns the bytes that left the storage.
    ///
    /// Takes the exclusive lock: no backup runs meanwhile, so nothing can come to refer to
    /// data while it is being removed, and no writer can still be uploading a pack that no
    /// index names yet. That is also why packs are deleted at once: rustic's default only
    /// marks them (in an index section stock restic does not read, so restic reports them as
    /// unreferenced) and deletes them at a prune a day later, which exists for repositories
    /// pruned without such a lock. What stays is restic's own slack: packs at most 5% unused
    /// are kept rather than repacked (`max_unused`), and at most 10% is repacked per run.
    pub fn prune(&self) -> Result<u64> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let before = self.stored_bytes()?;
        let opts = rustic_core::PruneOptions::default().instant_delete(true);
        let repo = self.handle()?;
        let plan = repo.prune_plan(&opts).map_err(|e| storage("could not plan the prune", *e))?;
        repo.prune(&opts, plan).map_err(|e| storage("prune failed", *e))?;
        let leftovers = self.store.remove_leftovers()?;
        Ok(before.saturating_sub(self.stored_bytes()?) + leftovers)
    }
}

/// Every snapshot file, read through `handle`.
///
/// `forget` takes only a shared lock, so another job may remove a snapshot file between rustic
/// listing the folder and reading that file, and rustic then fails the whole listing. The
/// snapshot is simply gone: a file not found is a reason to list again.
pub(crate) fn all_snapshots<S: rustic_core::Open>(handle: &Repository<S>) -> Result<Vec<SnapshotFile>> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        match handle.get_all_snapshots().map_err(|e| storage("could not read the snapshot list", *e)) {
            Err(err) if err.kind == RepoErrorKind::NotFound && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}
