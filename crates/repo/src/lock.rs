//! Repository locks in restic's format, so lifeboat and stock restic respect each other.
//!
//! Why: a backup deduplicates against data that is already stored, and prune deletes data no
//! snapshot references. A backup that started before a prune may reference data the prune is
//! deleting, and its snapshot would then point at nothing: it reports success and does not
//! restore. So writers (backups, restores, readers, forget) hold *shared* locks and prune holds
//! an *exclusive* one, exactly as restic does (`locks/` in restic's design document):
//!
//! * a lock is an encrypted JSON file in `locks/`: time, exclusive, host, user, pid, uid, gid;
//! * to lock, write our file, then look at the others: an exclusive lock conflicts with any
//!   other lock, a shared one with any exclusive lock. On a conflict remove ours and try again
//!   later (so two processes that lock at the same moment both back off instead of both
//!   proceeding), until the caller's patience runs out; then name who holds the lock;
//! * a held lock is rewritten every [`REFRESH`] so others see it is alive;
//! * a lock is stale when it is older than [`STALE`] (its process stopped refreshing), or when
//!   it was taken on this host by a process that no longer exists. Stale locks are removed:
//!   a crash never leaves a lock for a person to clean up.
//!
//! A repository this user cannot write (a read-only mount, read-only credentials) cannot hold
//! locks; reading it then goes on without one, since nothing can be changed through it by us
//! either. Locks live in the repository's storage (`locks/` of a folder or a bucket), so jobs
//! on different hosts sharing one bucket see each other's.

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, Sender, channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    crypto::{Cipher, id_of},
    error::{RepoError, RepoErrorKind, Result},
    storage::Store,
};

/// How often a held lock is rewritten (restic: 5 minutes).
const REFRESH: Duration = Duration::from_secs(5 * 60);
/// A lock not refreshed for this long belongs to a process that is gone (restic: 30 minutes).
const STALE: Duration = Duration::from_secs(30 * 60);

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Backups, restores, reads and forget: any number at once.
    Shared,
    /// Prune: nothing else at the same time.
    Exclusive,
}

/// A lock file's content, field for field as restic writes it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct LockFile {
    time: jiff::Timestamp,
    exclusive: bool,
    hostname: String,
    username: String,
    pid: i64,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

impl LockFile {
    fn ours(kind: LockKind) -> Self {
        // SAFETY: these calls have no preconditions and cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self {
            time: jiff::Timestamp::now(),
            exclusive: kind == LockKind::Exclusive,
            hostname: crate::write::hostname(),
            username: crate::write::user_name(),
            pid: i64::from(std::process::id()),
            uid,
            gid,
        }
    }

    fn is_stale(&self) -> bool {
        let age = jiff::Timestamp::now().duration_since(self.time);
        if age > jiff::SignedDuration::try_from(STALE).expect("small") {
            return true;
        }
        self.hostname == crate::write::hostname() && !process_exists(self.pid)
    }

    fn describe(&self) -> String {
        let kind = if self.exclusive { "an exclusive" } else { "a shared" };
        format!(
            "{kind} lock of pid {} ({}@{}) since {}",
            self.pid,
            self.username,
            self.hostname,
            self.time.round(jiff::Unit::Second).unwrap_or(self.time)
        )
    }
}

/// Whether process `pid` exists on this host (one of another user's counts: it is there).
pub fn process_exists(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Where a repository's locks live, and the key to read and write them.
#[derive(Clone)]
pub(crate) struct Locks {
    store: Arc<dyn Store>,
    cipher: Cipher,
}

/// The folder of lock files in restic's layout.
const FOLDER: &str = "locks";

/// A held lock; released when dropped.
pub struct RepoLock {
    // `None` when the repository cannot be written and the lock was waived.
    held: Option<Held>,
}

struct Held {
    store: Arc<dyn Store>,
    /// The lock file's path in the store; the refresher replaces it.
    current: Arc<Mutex<String>>,
    stop: Option<Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock").field("held", &self.held.is_some()).finish()
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        if let Some(mut held) = self.held.take() {
            drop(held.stop.take());
            if let Some(refresher) = held.refresher.take() {
                let _ = refresher.join();
            }
            let path = held.current.lock().expect("lock path").clone();
            // A lock that cannot be removed goes stale and is removed by the next job.
            let _ = held.store.remove(&path);
        }
    }
}

impl Locks {
    pub(crate) fn new(store: Arc<dyn Store>, cipher: Cipher) -> Self {
        Self { store, cipher }
    }

    /// Takes a lock of `kind`, waiting up to `wait` for conflicting ones; returns it and how
    /// long it waited (zero when nothing was in the way).
    pub(crate) fn acquire(&self, kind: LockKind, wait: Duration, cancel: &crate::CancelToken) -> Result<(RepoLock, Duration)> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut waited = false;
        loop {
            let path = match self.write(&LockFile::ours(kind)) {
                Ok(path) => path,
                Err(err) if err.kind == RepoErrorKind::Denied && kind == LockKind::Shared => {
                    return Ok((RepoLock { held: None }, Duration::ZERO));
                }
                Err(err) => return Err(err),
            };
            let conflicts = match self.conflicts(kind, &path) {
                Ok(conflicts) => conflicts,
                Err(err) => {
                    let _ = self.store.remove(&path);
                    return Err(err);
                }
            };
            if conflicts.is_empty() {
                return Ok((self.hold(path, kind), if waited { started.elapsed() } else { Duration::ZERO }));
            }
            waited = true;
            let _ = self.store.remove(&path);
            if cancel.is_cancelled() {
                return Err(RepoError::new(
                    RepoErrorKind::Storage,
                    "interrupted while waiting for a repository lock",
                    "nothing was changed",
                ));
            }
            if started.elapsed() >= wait {
                let holders: Vec<String> = conflicts.iter().map(LockFile::describe).collect();
                return Err(RepoError::new(
                    RepoErrorKind::Locked,
                    format!("the repository is locked by {} (waited {:.0?})", holders.join("; "), wait),
                    match kind {
                        LockKind::Exclusive => {
                            "a backup or restore is using the repository; run this again when it is done, or wait longer with --lock-wait"
                        }
                        LockKind::Shared => "a prune is removing data; run this again when it is done, or wait longer with --lock-wait",
                    },
                ));
            }
            std::thread::sleep(pause.min(wait.saturating_sub(started.elapsed())));
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Encrypts and stores `lock` under its id; returns its path.
    fn write(&self, lock: &LockFile) -> Result<String> {
        let sealed = self.cipher.encrypt(&serde_json::to_vec(lock).expect("a lock serializes"));
        let path = format!("{FOLDER}/{}", id_of(&sealed));
        self.store.put(&path, &[sealed.into()])?;
        Ok(path)
    }

    /// The live locks, other than `ours`, that conflict with a lock of `kind`; stale locks
    /// found on the way are removed. A listing that fails is an error, never "no locks": a
    /// prune that missed a backup's lock would delete what the backup refers to.
    fn conflicts(&self, kind: LockKind, ours: &str) -> Result<Vec<LockFile>> {
        let files = self.store.list(FOLDER)?;
        let mut found = Vec::new();
        for (name, _) in files {
            let path = format!("{FOLDER}/{name}");
            if path == ours {
                continue;
            }
            // A file that vanished meanwhile was released; one we cannot read is not a lock.
            let Ok(bytes) = self.store.get(&path) else { continue };
            let Some(lock) = self.cipher.decrypt_unpacked(&bytes).and_then(|json| serde_json::from_slice::<LockFile>(&json).ok()) else {
                continue;
            };
            if lock.is_stale() {
                let _ = self.store.remove(&path);
                continue;
            }
            if kind == LockKind::Exclusive || lock.exclusive {
                found.push(lock);
            }
        }
        Ok(found)
    }

    /// Keeps the lock at `path` fresh until the returned lock is dropped.
    fn hold(&self, path: String, kind: LockKind) -> RepoLock {
        let current = Arc::new(Mutex::new(path));
        let (stop, stopped) = channel::<()>();
        let refresher = {
            let (locks, current) = (self.clone(), current.clone());
            std::thread::Builder::new().name("lock-refresh".into()).spawn(move || locks.refresh(&current, kind, &stopped)).ok()
        };
        RepoLock { held: Some(Held { store: self.store.clone(), current, stop: Some(stop), refresher }) }
    }

    fn refresh(&self, current: &Mutex<String>, kind: LockKind, stopped: &Receiver<()>) {
        // The channel only ever disconnects (the lock was dropped); a timeout means refresh.
        while stopped.recv_timeout(REFRESH).is_err_and(|e| e == std::sync::mpsc::RecvTimeoutError::Timeout) {
            let mut path = current.lock().expect("lock path");
            // New file first, then remove the old one: the lock is never absent.
            if let Ok(fresh) = self.write(&LockFile::ours(kind)) {
                let _ = self.store.remove(&path);
                *path = fresh;
            }
        }
    }
}
