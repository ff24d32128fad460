//! Parsing the `<DB>` argument into the source it names.

use std::path::PathBuf;

use lifeboat_sources::{Source, sqlite::SqliteSource};

use crate::{EngineError, Result};

/// A database named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSpec {
    Sqlite(PathBuf),
}

impl DatabaseSpec {
    /// `sqlite:PATH`, or a path to a SQLite file. `postgres://` URLs come with the PostgreSQL
    /// engine.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(EngineError::input(
                format!("databases of type `{scheme}://` are not supported yet"),
                "lifeboat backs up SQLite files for now: pass a path or sqlite:PATH",
            ));
        }
        if text.is_empty() {
            return Err(EngineError::input("no database given", "pass a SQLite file path, e.g. `lifeboat backup app.db`"));
        }
        Ok(Self::Sqlite(PathBuf::from(text)))
    }

    pub fn source(&self) -> Box<dyn Source> {
        match self {
            Self::Sqlite(path) => Box::new(SqliteSource::new(path)),
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
        }
    }
}
