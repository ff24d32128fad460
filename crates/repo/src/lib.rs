//! lifeboat's repository layer: snapshots made of named streams plus a manifest, stored in a
//! restic-format repository through `rustic_core`.
//!
//! This crate knows snapshots, streams and manifests and nothing of databases. It is the only
//! crate that imports rustic; its types do not leave it.

mod background_hash;
mod cancel;
mod check;
mod copy;
mod crypto;
mod error;
mod guarded_backend;
mod keyfile;
mod keys;
mod lock;
mod progress;
mod read;
mod repository;
mod sha256;
mod sizes;
mod storage;
mod write;

pub use background_hash::BackgroundSha256;
pub use cancel::CancelToken;
pub use check::{CheckFinding, CheckReport};
pub use copy::CopyReport;
pub use error::{RepoError, RepoErrorKind, Result};
pub use keys::KeyInfo;
pub use lock::{LockKind, RepoLock, process_exists};
pub use read::{IndexedRepo, SnapshotReader, StreamEntry};
pub use repository::{CHUNK_SIZE, Repo, SnapshotInfo};
pub use sha256::Sha256;
pub use storage::{Location, S3Settings};
pub use write::{MANIFEST, NewSnapshot, OpenStream, RenderManifest, Stream, StreamDigest, WrittenSnapshot, user_name};
