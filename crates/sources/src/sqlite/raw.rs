//! The bytes of a database file as they are on disk, for keeping a database SQLite cannot
//! read any more.
//!
//! A restore replaces a database only after keeping what it replaces. When the current file is
//! so damaged that no consistent image or catalog can be read, its bytes are still the best
//! record of it: this source stores them as `database.sqlite` (plus `database.sqlite-wal` and
//! `database.sqlite-journal` when those exist), with a catalog that lists no tables and says
//! the integrity was not checked, so a restore of it needs `--accept-damaged`.

use std::path::PathBuf;

use super::{IMAGE_STREAM, SqliteSource, file_mode::FileMode, with_suffix};
use crate::{Capture, Catalog, Result, Source, SourceError, SourceErrorKind, SourceStream};

/// The raw files of a SQLite database.
#[derive(Debug, Clone)]
pub struct RawFiles {
    database: SqliteSource,
    /// Why a consistent image could not be read; kept in the manifest.
    why: String,
}

impl RawFiles {
    pub fn new(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Self { database: SqliteSource::new(path), why: why.into() }
    }
}

impl Source for RawFiles {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn name(&self) -> &str {
        self.database.name()
    }

    fn identity(&self) -> String {
        self.database.identity()
    }

    fn capture(&self, _previous: Option<&Catalog>, _stop: &dyn Fn() -> bool) -> Result<Capture> {
        let path = self.database.path().to_path_buf();
        let unreadable =
            |e: std::io::Error| SourceError::new(SourceErrorKind::Io, format!("cannot read {}", path.display()), "").with_source(e);
        let mode = FileMode::of(&path).map_err(unreadable)?;
        let mut streams = Vec::new();
        for suffix in ["", "-journal", "-wal"] {
            let file = with_suffix(&path, suffix);
            if !file.exists() {
                continue;
            }
            streams.push(SourceStream {
                name: format!("{IMAGE_STREAM}{suffix}"),
                // Read while a restore may hold the file's SQLite lock (see deferred_close.rs).
                open: Box::new(move || super::deferred_close::open(&file).map(|f| Box::new(f) as _)),
            });
        }
        let why = self.why.clone();
        let catalog = Box::new(move || {
            let mut catalog = Catalog { engine: "sqlite".into(), server_version: rusqlite::version().to_string(), ..Default::default() };
            catalog.properties.insert(
                super::inspect::INTEGRITY.into(),
                serde_json::Value::from(vec![format!("not checked: a raw copy of a database that could not be read ({why})")]),
            );
            catalog.properties.insert("raw_copy".into(), serde_json::Value::Bool(true));
            mode.record(&mut catalog.properties);
            Ok(catalog)
        });
        Ok(Capture::new(streams, catalog))
    }
}
