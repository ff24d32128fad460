//! Database sources: how lifeboat reads a consistent point in time out of a database and
//! writes one back. Sources know databases and nothing of repositories: they hand out named
//! byte streams and a [`Catalog`], and restore from streams handed to them.
//!
//! Each engine lives in its own folder behind the [`Source`] trait.

mod catalog;
mod check;
pub mod content_hash;
mod error;
pub mod frames;
pub mod postgres;
pub mod sqlite;

use std::io::Read;

pub use catalog::{Catalog, ColumnInfo, ForeignKey, SchemaObject, TableInfo};
pub use check::{CopyCheck, TableCheck};
pub use error::{Result, SourceError, SourceErrorKind};

/// Opens a stream's reader; called once, from any thread, when the stream is to be read.
pub type OpenReader = Box<dyn FnOnce() -> std::io::Result<Box<dyn Read + Send>> + Send>;

/// One named stream of a captured database, e.g. `database.sqlite`.
pub struct SourceStream {
    /// `/`-separated name, unique within the capture.
    pub name: String,
    pub open: OpenReader,
}

/// A consistent point in time of a database, ready to be streamed.
///
/// The catalog is delivered by [`Capture::catalog`] once it is complete: computing row counts
/// and content hashes may run in parallel with the streams, from the same point in time.
pub struct Capture {
    pub streams: Vec<SourceStream>,
    catalog: Box<dyn FnOnce() -> Result<Catalog> + Send>,
}

impl Capture {
    pub fn new(streams: Vec<SourceStream>, catalog: Box<dyn FnOnce() -> Result<Catalog> + Send>) -> Self {
        Self { streams, catalog }
    }

    /// Splits the capture into its streams and the (possibly still running) catalog.
    pub fn into_parts(self) -> (Vec<SourceStream>, Box<dyn FnOnce() -> Result<Catalog> + Send>) {
        (self.streams, self.catalog)
    }
}

/// A database lifeboat can back up.
pub trait Source {
    /// The engine's name as it appears in snapshot paths and manifests: `sqlite`, `postgres`.
    fn engine(&self) -> &'static str;

    /// The database's name in the repository: snapshot paths, tags and retention groups.
    fn name(&self) -> &str;

    /// Pins one consistent point in time and returns its streams and catalog.
    ///
    /// Nothing is read from the database beyond what pinning needs until a stream is opened.
    /// Errors are those of connecting: missing database, wrong credentials, not a database.
    fn capture(&self) -> Result<Capture>;
}
