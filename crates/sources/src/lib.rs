//! Database sources: how lifeboat reads a consistent point in time out of a database and
//! writes one back. Sources know databases and nothing of repositories: they hand out named
//! byte streams and a [`Catalog`], and restore from streams handed to them.
//!
//! Each engine lives in its own folder behind the [`Source`] trait.

mod background;
mod catalog;
mod check;
pub mod child;
pub mod content_hash;
mod contract;
pub mod disk;
mod error;
pub mod frames;
pub mod postgres;
mod secret_url;
pub mod sqlite;

use std::io::Read;

pub use background::lower_this_thread;
pub use catalog::{Catalog, ColumnInfo, ForeignKey, SchemaObject, TableInfo, TableSet, no_such_table};
pub use check::{CopyCheck, TableCheck};
pub use contract::{
    BackupStreams, Caps, CaptureOptions, Database, ENGINES, Engine, IntegrityLevel, KeepReplaced, RestoreCheck, RestoreOptions, Sample,
    Staged, blob_value, engine_for, engine_named, open, relative_to,
};
pub use error::{Result, SourceError, SourceErrorKind};
pub use secret_url::{SecretUrl, redact};

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

    /// The database's default name in the repository (snapshot paths, tags and retention
    /// groups) when the user gives none: a file's stem, a server's database name.
    fn name(&self) -> &str;

    /// What makes this database itself and not another of the same name, e.g.
    /// `sqlite:host:/srv/app/app.db` or `postgres:<system identifier>/shop`. Two sources with
    /// the same identity are the same database; backups refuse to put a source into a name
    /// that already holds another identity (DESIGN.md decision 9). Cheap: no data is read.
    fn identity(&self) -> String;

    /// Pins one consistent point in time and returns its streams and catalog.
    ///
    /// `previous` is the catalog of this database's last backup, if any: an engine may reuse
    /// what it can prove did not change (SQLite: the whole catalog, when every page is the
    /// same), and must otherwise ignore it. Nothing is read from the database beyond what
    /// pinning needs until a stream is opened. Errors are those of connecting: missing
    /// database, wrong credentials, not a database.
    ///
    /// `stop` is asked while pinning waits for a busy database (a writer's lock): when it
    /// says `true` the capture gives up with [`SourceErrorKind::Interrupted`], so a job being
    /// cancelled does not wait out the busy timeout.
    fn capture(&self, previous: Option<&Catalog>, stop: &dyn Fn() -> bool) -> Result<Capture>;
}

/// This machine's host name, as `hostname` prints it.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL either way.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok && end > 0 { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "localhost".to_string() }
}
