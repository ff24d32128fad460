//! Where a repository's files are kept: a local folder or an S3-compatible bucket, both in
//! restic's layout (`config`, `keys/`, `snapshots/`, `index/`, `data/<2 hex>/`, `locks/`).
//!
//! Everything above this module sees one [`Store`]: rustic reads and writes through the
//! adapter in `backend.rs`, and the lock module through the store itself, since rustic's
//! backend trait has no place for lock files.

mod backend;
#[cfg(test)]
mod contract_tests;
mod local;
mod location;
mod s3;

use bytes::Bytes;

pub(crate) use backend::StoreBackend;
pub use location::{Location, S3Settings};

use crate::error::Result;

/// A repository's storage. Paths are relative to the repository's root and use `/`
/// (`data/3f/3f9a…`, `locks/5be1…`).
///
/// Every method may be called from many threads at once. Errors are [`crate::RepoError`]s whose
/// kind says what a caller can do: `NotFound` for a file that is not there, `Denied` when this
/// user may not do it (read-only mount, refused credentials), `Storage` for the rest, with a
/// hint naming the storage's own fix (disk full, endpoint unreachable, certificate not trusted).
pub(crate) trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Where, for people: the folder, or the URL. Never holds a secret.
    fn describe(&self) -> String;

    /// Prepares the place for a new repository: the folders of a local one; for S3 the
    /// bucket, created when missing. Idempotent.
    fn create(&self) -> Result<()>;

    /// Whether anything at all is stored where the repository would be (init refuses then).
    /// A place that does not exist yet is empty.
    fn is_empty(&self) -> Result<bool>;

    /// Whether the file at `path` exists. A missing bucket or folder is an error, not `false`,
    /// so that "no repository here" and "cannot reach it" stay apart.
    fn exists(&self, path: &str) -> Result<bool>;

    /// Stores `content` at `path`, replacing what was there. Returns only when the file is
    /// durable: synced with its folder on a local disk, confirmed by the server with a
    /// matching checksum on S3. A failed put leaves the old file or none, never part of one.
    /// Idempotent: putting the same content again changes nothing.
    fn put(&self, path: &str, content: &[Bytes]) -> Result<()>;

    /// The whole file; `NotFound` when absent.
    fn get(&self, path: &str) -> Result<Bytes>;

    /// `length` bytes from `offset`; a shorter file is an error, never a short read.
    fn get_range(&self, path: &str, offset: u64, length: u64) -> Result<Bytes>;

    /// Every file under the folder `folder` (its subfolders included): name (the last part of
    /// its path) and size. A folder that does not exist holds nothing.
    fn list(&self, folder: &str) -> Result<Vec<(String, u64)>>;

    /// Removes the file at `path`, durably. Idempotent: a file already gone is success.
    fn remove(&self, path: &str) -> Result<()>;

    /// Removes what writers killed half-way left behind (a local folder's `-tmp-` files; S3
    /// uploads are whole or absent, so nothing there); returns the bytes freed. Safe only
    /// under the exclusive lock, when no writer can be mid-way.
    fn remove_leftovers(&self) -> Result<u64>;
}

/// Opens the storage of `location`. Nothing is read or written yet.
pub(crate) fn open(location: &Location) -> Result<std::sync::Arc<dyn Store>> {
    Ok(match location {
        Location::Local(path) => std::sync::Arc::new(local::LocalStore::new(path.clone())),
        Location::S3(url, settings) => std::sync::Arc::new(s3::S3Store::new(url, settings)?),
    })
}
