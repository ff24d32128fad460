//! Opening and creating repositories, and the snapshot list.
//!
//! A [`Repo`] is cheap to clone and each operation that reads the index opens it afresh:
//! rustic's indexed handle does not see blobs written after it was loaded, so a long-lived
//! one would miss our own new backups (DESIGN.md decision 1).

use std::{
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use rustic_backend::LocalBackend;
use rustic_core::{
    ConfigOptions, Credentials, KeyOptions, OpenStatus, Repository, RepositoryBackends, RepositoryOptions, WriteBackend,
    repofile::MasterKey, repofile::SnapshotFile,
};

use crate::{
    cancel::CancelToken,
    crypto::Cipher,
    error::{RepoError, RepoErrorKind, Result, storage},
    guarded_backend::{CommitGate, GuardedBackend},
    lock::{LockKind, Locks, RepoLock},
    progress::JobProgress,
};

/// Where a repository lives. Only local folders for now; object storage comes through the
/// same [`GuardedBackend`] later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
}

impl Location {
    /// Parses `--repo` / `LIFEBOAT_REPO`: a path, or `local:PATH`.
    pub fn parse(text: &str) -> Result<Self> {
        let path = text.strip_prefix("local:").unwrap_or(text);
        if path.is_empty() {
            return Err(RepoError::new(
                RepoErrorKind::NotFound,
                "the repository location is empty",
                "pass --repo PATH or set LIFEBOAT_REPO",
            ));
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(RepoError::new(
                RepoErrorKind::NotFound,
                format!("repository scheme `{scheme}://` is not supported yet"),
                "use a local folder for now, e.g. --repo /var/backups/lifeboat",
            ));
        }
        Ok(Self::Local(PathBuf::from(path)))
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
        }
    }
}

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
    /// The backend every handle writes through (no commit gate: backups get their own).
    pub(crate) backend: Arc<dyn WriteBackend>,
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

/// A repository handle not yet opened, and the backend it writes through; with `gate`, the
/// backend serves one backup (see `guarded_backend.rs`).
pub(crate) fn unopened(
    location: &Location,
    gate: Option<Arc<CommitGate>>,
    progress: Option<Arc<AtomicU64>>,
) -> Result<(Repository<()>, Arc<dyn WriteBackend>)> {
    let (backend, root): (Arc<dyn WriteBackend>, Option<PathBuf>) = match location {
        Location::Local(path) => {
            let text = path.to_str().ok_or_else(|| {
                RepoError::new(
                    RepoErrorKind::NotFound,
                    format!("repository path {} is not UTF-8", path.display()),
                    "use a path of UTF-8 characters",
                )
            })?;
            let local = LocalBackend::new(text, Vec::<(String, String)>::new())
                .map_err(|e| storage(format!("cannot use {} as a repository", path.display()), *e))?;
            (Arc::new(local), Some(path.clone()))
        }
    };
    let guarded: Arc<dyn WriteBackend> = Arc::new(GuardedBackend::new(backend, root, gate));
    let backends = RepositoryBackends::new(guarded.clone(), None);
    // No cache: a backup tool must not fill $HOME behind the user's back, and local reads are
    // as fast as a cache would be.
    let opts = RepositoryOptions::default().no_cache(true);
    let repo = Repository::new_with_progress(&opts, &backends, JobProgress(progress))
        .map_err(|e| storage(format!("cannot open repository {}", location.describe()), *e))?;
    Ok((repo, guarded))
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
        let Location::Local(path) = location;
        if path.exists() {
            let non_empty = std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(true);
            if non_empty {
                let kind = if path.join("config").exists() { "a repository" } else { "files" };
                return Err(RepoError::new(
                    RepoErrorKind::AlreadyExists,
                    format!("{} already holds {kind}", path.display()),
                    "choose a new or empty folder for the repository; nothing was changed",
                ));
            }
        }
        let (base, backend) = unopened(location, None, None)?;
        let opened = base
            .clone()
            .init(&Credentials::password(password), &KeyOptions::default(), &chunking())
            .map_err(|e| storage(format!("could not create the repository at {}", location.describe()), *e))?;
        Ok(Repo::new(base, opened.key(), opened.key_id().map(|id| id.to_hex().to_string()), backend, location))
    }

    fn new(base: Repository<()>, key: MasterKey, key_id: Option<String>, backend: Arc<dyn WriteBackend>, location: &Location) -> Self {
        let Location::Local(path) = location;
        let locks = Locks::new(path, Cipher::new(&key));
        Repo {
            base,
            key,
            key_id,
            backend,
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
        let (base, backend) = unopened(&self.location, None, progress.clone())?;
        Ok(Self { base, backend, cancel, progress, lock_waited: Arc::default(), ..self.clone() })
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
        let Location::Local(path) = location;
        if !path.join("config").is_file() {
            let what = if path.exists() { "is not a lifeboat repository" } else { "does not exist" };
            return Err(RepoError::new(
                RepoErrorKind::NotFound,
                format!("repository {} {what}", path.display()),
                "check --repo / LIFEBOAT_REPO, or create one with `lifeboat init`",
            ));
        }
        let (base, backend) = unopened(location, None, None)?;
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
        Ok(Repo::new(base, opened.key(), opened.key_id().map(|id| id.to_hex().to_string()), backend, location))
    }

    /// A fresh handle for one backup, writing through a backend with the backup's own `gate`.
    pub(crate) fn gated_handle(&self, gate: Arc<CommitGate>) -> Result<Repository<OpenStatus>> {
        let (base, _) = unopened(&self.location, Some(gate), self.progress.clone())?;
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

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Every snapshot in the repository, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let mut snaps = self.handle()?.get_all_snapshots().map_err(|e| storage("could not read the snapshot list", *e))?;
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

    /// Removes data no snapshot references any more. Returns the bytes freed.
    ///
    /// Takes the exclusive lock: no backup runs meanwhile, so nothing can come to refer to
    /// data while it is being removed.
    pub fn prune(&self) -> Result<u64> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let opts = rustic_core::PruneOptions::default();
        let repo = self.handle()?;
        let plan = repo.prune_plan(&opts).map_err(|e| storage("could not plan the prune", *e))?;
        let freed = plan.stats.size_sum().remove;
        repo.prune(&opts, plan).map_err(|e| storage("prune failed", *e))?;
        let Location::Local(root) = &self.location;
        Ok(freed
            + remove_leftovers(root)
                .map_err(|e| RepoError::new(RepoErrorKind::Storage, "could not remove leftover files", "").with_source(e))?)
    }
}

/// Removes the half-written files of writers that were killed (`<name>-tmp-`, which the local
/// backend renames to `<name>` only once complete), syncing each folder after; returns the
/// bytes freed. Only safe under the exclusive lock, when no writer can be mid-way.
fn remove_leftovers(root: &std::path::Path) -> std::io::Result<u64> {
    let mut folders = vec![root.join("index"), root.join("snapshots"), root.join("keys")];
    if let Ok(entries) = std::fs::read_dir(root.join("data")) {
        folders.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut freed = 0;
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut removed = false;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with("-tmp-") {
                freed += entry.metadata().map_or(0, |m| m.len());
                std::fs::remove_file(entry.path())?;
                removed = true;
            }
        }
        if removed {
            std::fs::File::open(&folder)?.sync_all()?;
        }
    }
    Ok(freed)
}
