//! SQLite: a consistent image of the database file read from inside a read transaction, and
//! restores that never leave the target half-written.

mod capture;
mod deferred_close;
mod engine;
mod export;
mod file_mode;
mod image;
mod inspect;
mod open;
mod pin;
mod raw;
mod restore;
mod restore_table;
mod virtual_table;

use std::path::{Path, PathBuf};

pub use engine::SqliteEngine;
use raw::RawFiles;
use restore::RestoredCopy;
use restore_table::restore_table;

use crate::{Capture, Catalog, IntegrityLevel, Result, Source};

/// The name of the database image stream inside a SQLite backup.
pub const IMAGE_STREAM: &str = "database.sqlite";

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    path: PathBuf,
    name: String,
    integrity: IntegrityLevel,
}

impl SqliteSource {
    /// `path` is the database file; its name in the repository is the file's stem.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty()).unwrap_or_else(|| "database".to_string());
        Self { path, name, integrity: IntegrityLevel::default() }
    }

    /// Checks the database's structure this thoroughly at backup time (default: quick).
    pub fn with_integrity(mut self, integrity: IntegrityLevel) -> Self {
        self.integrity = integrity;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for SqliteSource {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn identity(&self) -> String {
        // The same path on two hosts is two databases; a path reached through a symlink or
        // `..` is one.
        let path = std::fs::canonicalize(&self.path).or_else(|_| std::path::absolute(&self.path)).unwrap_or_else(|_| self.path.clone());
        format!("sqlite:{}:{}", crate::host_name(), path.display())
    }

    fn capture(&self, previous: Option<&Catalog>, stop: &dyn Fn() -> bool) -> Result<Capture> {
        capture::capture(&self.path, self.integrity, previous, stop)
    }
}

/// `path` with `suffix` appended to its file name, e.g. `app.db-wal`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
