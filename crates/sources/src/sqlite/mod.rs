//! SQLite: a consistent image of the database file read from inside a read transaction, and
//! restores that never leave the target half-written.

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

use std::path::{Path, PathBuf};

pub use engine::SqliteEngine;
use raw::RawFiles;
use restore::RestoredCopy;
use restore_table::restore_table;

use crate::{Capture, Result, Source, SourceStream};

/// The name of the database image stream inside a SQLite backup.
pub const IMAGE_STREAM: &str = "database.sqlite";

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    path: PathBuf,
    name: String,
}

impl SqliteSource {
    /// `path` is the database file; its name in the repository is the file's stem.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty()).unwrap_or_else(|| "database".to_string());
        Self { path, name }
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

    fn capture(&self) -> Result<Capture> {
        let pinned = pin::PinnedRead::begin(&self.path)?;
        let (image_conn, catalog_conn) = pinned.into_connections();
        let image = SourceStream {
            name: IMAGE_STREAM.to_string(),
            open: Box::new(move || image::ImageReader::start(image_conn).map(|r| Box::new(r) as _)),
        };
        // The catalog (row counts, content hashes) is computed on its own thread from the
        // same point in time, in parallel with the image stream.
        let mode = file_mode::FileMode::of(&self.path).map_err(|e| {
            crate::SourceError::new(crate::SourceErrorKind::Io, format!("cannot read the mode of {}", self.path.display()), "")
                .with_source(e)
        })?;
        let worker = std::thread::spawn(move || {
            let mut catalog = catalog_conn.with(inspect::catalog)?;
            mode.record(&mut catalog.properties);
            Ok(catalog)
        });
        let catalog = Box::new(move || {
            worker.join().unwrap_or_else(|_| {
                Err(crate::SourceError::new(crate::SourceErrorKind::Database, "reading the catalog panicked", "this is a bug in lifeboat"))
            })
        });
        Ok(Capture::new(vec![image], catalog))
    }
}

/// `path` with `suffix` appended to its file name, e.g. `app.db-wal`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
