//! Parsing the `<DB>` argument into the source it names.

use std::path::PathBuf;

use lifeboat_sources::{
    Source,
    postgres::{Conn, PostgresSource, Subset},
    sqlite::SqliteSource,
};

use crate::{EngineError, Result};

/// A database named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSpec {
    Sqlite(PathBuf),
    Postgres(Conn),
}

impl DatabaseSpec {
    /// `postgres://…` / `postgresql://…` (libpq URL), `sqlite:PATH`, or a path to a SQLite file.
    pub fn parse(text: &str) -> Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(Conn::parse(text)?));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(EngineError::input(
                format!("databases of type `{scheme}://` are not supported yet"),
                "lifeboat backs up PostgreSQL (postgres://…) and SQLite files (a path or sqlite:PATH)",
            ));
        }
        if text.is_empty() {
            return Err(EngineError::input("no database given", "pass a SQLite file path or a postgres:// URL"));
        }
        Ok(Self::Sqlite(PathBuf::from(text)))
    }

    /// Connects to the database (PostgreSQL: checks the server and the local pg_dump), to
    /// back up `subset` of it with at most `jobs` sessions at once.
    pub fn source(&self, subset: &Subset, jobs: Option<usize>) -> Result<Box<dyn Source>> {
        Ok(match self {
            Self::Sqlite(_) if *subset != Subset::default() || jobs.is_some() => {
                return Err(EngineError::input(
                    "--schema, --tables, --exclude-table, --globals and --jobs are for PostgreSQL",
                    "a SQLite backup is always the whole file, read as one stream",
                ));
            }
            Self::Sqlite(path) => Box::new(SqliteSource::new(path)),
            Self::Postgres(conn) => Box::new(PostgresSource::connect(conn.clone())?.with_subset(subset.clone()).with_jobs(jobs)),
        })
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// How the database is shown to people and in manifests (never with a password).
    pub fn label(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(conn) => conn.label(),
        }
    }

    /// The database's size when it is cheap to know in advance (for progress bars).
    pub fn size_hint(&self) -> Option<u64> {
        match self {
            Self::Sqlite(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Self::Postgres(_) => None,
        }
    }
}
