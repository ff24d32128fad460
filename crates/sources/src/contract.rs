//! The contract every database engine implements (DESIGN.md decision 7), and the registry that
//! picks an engine from a URL.
//!
//! The engine crate holds one restore flow for all engines: plan, consent, safety copy, stage,
//! verify, swap. Everything it needs to know about a database is asked through these traits,
//! so adding an engine is one folder under `sources/` plus one line in [`ENGINES`].

use std::{
    collections::BTreeMap,
    io::{self, Write},
    path::Path,
};

use serde::Serialize;

use crate::{Catalog, CopyCheck, Result, Source, SourceError, SourceErrorKind, TableSet, postgres::PostgresEngine, sqlite::SqliteEngine};

/// Every engine lifeboat knows. A URL is claimed by the first engine that accepts it, so the
/// catch-all (a bare path is a SQLite file) comes last.
pub static ENGINES: [&dyn Engine; 2] = [&PostgresEngine, &SqliteEngine];

/// The engine that reads `url`.
///
/// Errors: [`SourceErrorKind::Usage`] for a scheme no engine claims (`mysql://…`) or an
/// empty URL.
pub fn engine_for(url: &str) -> Result<&'static dyn Engine> {
    if url.is_empty() {
        return Err(SourceError::new(SourceErrorKind::Usage, "no database given", "pass a SQLite file path or a postgres:// URL"));
    }
    ENGINES.iter().copied().find(|e| e.claims(url)).ok_or_else(|| {
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        SourceError::new(
            SourceErrorKind::Usage,
            format!("databases of type `{scheme}://` are not supported yet"),
            "lifeboat backs up PostgreSQL (postgres://…) and SQLite files (a path or sqlite:PATH)",
        )
    })
}

/// The engine a backup was taken with (the manifest's `engine`).
pub fn engine_named(name: &str) -> Result<&'static dyn Engine> {
    ENGINES.iter().copied().find(|e| e.name() == name).ok_or_else(|| {
        SourceError::new(
            SourceErrorKind::Usage,
            format!("backups of engine `{name}` cannot be read by this version"),
            "use the lifeboat version that took it",
        )
    })
}

/// `url` as written in a configuration file in folder `base`: a database given by a relative
/// path is relative to that folder (as every other path in the file is). A URL no engine
/// claims is left as it is, for opening it to say why.
pub fn relative_to(base: &Path, url: &str) -> String {
    engine_for(url).map_or_else(|_| url.to_string(), |engine| engine.relative_to(base, url))
}

/// Opens the database `url` names (a restore target, or what to back up).
pub fn open(url: &str) -> Result<Box<dyn Database>> {
    engine_for(url)?.database(url)
}

/// A backup being read back: its catalog, and its streams checked against its manifest.
pub trait BackupStreams: Sync {
    /// The snapshot's short id, for messages.
    fn id(&self) -> &str;

    fn catalog(&self) -> &Catalog;

    /// Where the backup was read from, as the manifest shows it (never with a password).
    fn source(&self) -> &str;

    /// Whether the backup holds stream `name`.
    fn has_stream(&self, name: &str) -> bool;

    /// Writes stream `name`, decoded (table frames become COPY text), into `out`; returns the
    /// bytes stored. Fails unless the stored bytes are exactly those the manifest recorded,
    /// and then what was written must be discarded. Can be called from several threads.
    fn read(&self, name: &str, out: &mut dyn Write) -> io::Result<u64>;
}

/// Which part of a database a backup keeps, and how many sessions it may read with. Empty
/// lists mean everything; engines without schemas or sessions refuse anything but the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureOptions {
    pub schemas: Vec<String>,
    /// `name` (any schema) or `schema.name`.
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    /// Also keep roles and tablespaces.
    pub globals: bool,
    /// At most this many sessions at once (default: one per core).
    pub jobs: Option<usize>,
    /// How thoroughly the database's own structure is checked before it is stored; `None` is
    /// the engine's default. Engines without such a check refuse any other value.
    pub integrity: Option<IntegrityLevel>,
}

impl CaptureOptions {
    /// The options given here that an engine with `caps` cannot honour, by the names a person
    /// writes them with (`--tables`, …); empty when it can honour them all.
    pub fn refused_by(&self, caps: Caps) -> Vec<&'static str> {
        let given = [
            (!self.schemas.is_empty(), caps.subsets, "--schema"),
            (!self.tables.is_empty(), caps.subsets, "--tables"),
            (!self.exclude_tables.is_empty(), caps.subsets, "--exclude-table"),
            (self.globals, caps.globals, "--globals"),
            (self.jobs.is_some(), caps.parallel, "--jobs"),
            (self.integrity.is_some(), caps.integrity_levels, "--integrity"),
        ];
        given.into_iter().filter(|(set, can, _)| *set && !*can).map(|(_, _, name)| name).collect()
    }
}

/// What an engine can do. Front ends (`config check`, the coming API) offer and check options
/// by it, never by an engine's name; each engine's own checks refuse the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Caps {
    /// A backup of part of a database (`--schema`, `--tables`, `--exclude-table`).
    pub subsets: bool,
    /// Roles and tablespaces kept beside a backup (`--globals`).
    pub globals: bool,
    /// Several sessions at once in a backup or restore (`--jobs`).
    pub parallel: bool,
    /// A structural check of the database at backup, at a level chosen (`--integrity`).
    pub integrity_levels: bool,
    /// One table restored into the live database (`restore --table`).
    pub table_restore: bool,
    /// One table restored beside the original (`restore --table T --as NEW`).
    pub table_restore_beside: bool,
    /// Other sessions ended before a whole restore swaps its copy in (`--terminate-connections`).
    pub ends_sessions: bool,
    /// A drill restores into a database server (a `scratch` URL), not into a folder.
    pub drills_need_a_server: bool,
    /// Recovery to any point in time (no engine yet; see PITR.md).
    pub point_in_time: bool,
}

/// How thoroughly a backup checks a database's own structure (SQLite's `quick_check` and
/// `integrity_check`). The manifest records which one ran and what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrityLevel {
    /// No check: the backup stores the database as it is.
    Off,
    /// Pages, records and free lists, but not whether each index agrees with its table.
    #[default]
    Quick,
    /// Everything, indexes against their tables too (several times as long).
    Full,
}

impl IntegrityLevel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }
}

/// How a restore may treat its target, beyond what every engine does.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreOptions {
    /// With a one-table restore: put the rows into a new table of this name beside the live one.
    pub table_as: Option<String>,
    /// End the sessions that would block the swap.
    pub terminate_connections: bool,
    /// First create the roles and tablespaces a backup kept.
    pub globals: bool,
    /// Sessions that load at once.
    pub jobs: Option<usize>,
    /// How much of the copy a one-table restore checks (a whole restore asks its staged copy
    /// through [`Staged::check`]).
    pub check: RestoreCheck,
}

/// How much a restore checks of its staged copy beyond the bytes. Every stream's SHA-256 is
/// always compared with the manifest's, so a copy that is staged at all is the very data the
/// backup's own checks ran on; row counts are always compared too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestoreCheck {
    /// The checks the backup recorded stand for the copy (re-running them on the same bytes
    /// can find nothing new). A backup taken with no integrity check gets a quick one now,
    /// and one recorded as damaged the full one, so that its findings are named.
    #[default]
    Recorded,
    /// The engine's full check runs on the copy now, and every table whose content hash the
    /// backup recorded is read back and compared (restore drills, `--check full`).
    Full,
}

/// Keeps what a restore is about to replace (the engine crate's safety copy). A restore calls
/// it exactly once, after it stopped every writer of the target and before it changes
/// anything, so that every transaction committed before the replacement is in what it keeps.
/// When it fails the restore changes nothing and returns that error.
pub type KeepReplaced<'a> = &'a mut dyn FnMut() -> Result<()>;

/// The first rows of one table, for reports: each value as JSON of its own kind (numbers,
/// strings, `null`; a blob as `{"hex": "…"}`), with each column's declared type.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Sample {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A blob in a sample: its bytes in hex.
pub fn blob_value(bytes: &[u8]) -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::from_iter([("hex".to_string(), serde_json::Value::from(hex::encode(bytes)))]))
}

/// A database engine: which URLs it reads, and what it does with backups as a whole.
pub trait Engine: Send + Sync {
    /// `sqlite`, `postgres`: the snapshot folder `/<engine>/<name>`, the `engine:` tag, the
    /// manifest's `engine`.
    fn name(&self) -> &'static str;

    /// What this engine can do (see [`Caps`]).
    fn caps(&self) -> Caps;

    /// Whether `url` names a database of this engine. Cheap: looks at the text only.
    fn claims(&self, url: &str) -> bool;

    /// The database at `url`. Checks the URL's form; connects or opens nothing yet.
    fn database(&self, url: &str) -> Result<Box<dyn Database>>;

    /// What to tell a person whose database failed its integrity check at backup: how to
    /// repair it with the engine's own tools.
    fn repair_hint(&self) -> &'static str {
        "repair the database with its own tools"
    }

    /// `url` (claimed by this engine) with a relative file path in it made relative to `base`;
    /// unchanged for an engine whose URLs name no file.
    fn relative_to(&self, _base: &Path, url: &str) -> String {
        url.to_string()
    }

    /// What `restore --table name` restores, `name` as a person wrote it (PostgreSQL also
    /// reads `orders` as `public.orders`): the table, or the unit it belongs to (see
    /// [`TableSet`]). An error when the backup has no such table ([`crate::no_such_table`],
    /// listing those it has) or when the table cannot be restored alone (a virtual table's
    /// shadow table), saying what to name instead.
    fn find_table(&self, catalog: &Catalog, name: &str) -> Result<TableSet>;

    /// A place that does not exist yet, to restore a drill of `backup` into: `scratch` as the
    /// user gave it (a folder, a URL), or the engine's default. `live` is the backed-up
    /// database's own URL when it is known (the configuration's, with the credentials that a
    /// manifest never keeps): a default place on its server is reached with them. Removed
    /// when dropped.
    fn scratch(&self, backup: &dyn BackupStreams, scratch: Option<&str>, live: Option<&str>) -> Result<Box<dyn Database>>;

    /// The first `limit` rows of each table of `backup`. `scratch` is where a working copy
    /// may be written, for engines that need one (default: the temporary folder).
    fn samples(&self, backup: &dyn BackupStreams, limit: usize, scratch: Option<&Path>) -> Result<BTreeMap<String, Sample>>;

    /// Writes `backup` as one plain SQL script that the engine's own shell loads into an empty
    /// database, with no lifeboat involved.
    fn export_sql(&self, backup: &dyn BackupStreams, out: &mut dyn Write, scratch: Option<&Path>) -> Result<()>;
}

/// One database: a backup's source, or a restore's target.
pub trait Database: Send {
    fn engine(&self) -> &'static dyn Engine;

    /// The database as shown to people and in manifests: a path, a URL without its password.
    fn label(&self) -> String;

    /// Whether it exists now (a restore replaces it, or creates it).
    fn exists(&self) -> Result<bool>;

    /// Its size when that is cheap to know (progress bars, the restore's question).
    fn size(&self) -> Option<u64>;

    /// Whether the live database can be read now, for health checks: `Ok` or what is wrong
    /// (missing, unreachable, damaged). Reads only; cheap enough to run every few minutes.
    fn probe(&self) -> Result<()>;

    /// A source that captures it, for backups and safety backups. Options the engine does not
    /// have are refused ([`SourceErrorKind::Usage`]).
    fn source(&self, options: &CaptureOptions) -> Result<Box<dyn Source>>;

    /// Loads `backup` into a new place beside this database, never into it, reading every
    /// stream through the backup's checks. Nothing live changes. Dropping the result without
    /// [`Staged::swap_in`] removes the staged copy. Options the engine does not have are refused.
    fn stage(&self, backup: &dyn BackupStreams, options: &RestoreOptions) -> Result<Box<dyn Staged>>;

    /// Replaces the rows of every table of `set` in this (existing) database with the
    /// backup's, in one transaction, changing nothing else: no trigger fires, no foreign-key
    /// action runs, the references from and to the tables are checked before the commit. With
    /// `options.table_as`, the rows go into a new table beside it instead. `keep` is called
    /// once writers of the tables are held off, before anything changes (see [`KeepReplaced`]).
    /// Returns the rows.
    fn restore_table(&self, backup: &dyn BackupStreams, set: &TableSet, options: &RestoreOptions, keep: KeepReplaced) -> Result<u64>;

    /// When a safety backup of this database failed (`why`), a source that still keeps what
    /// is there (its raw bytes), if the engine can read that much.
    fn raw_source(&self, _why: &str) -> Option<Box<dyn Source>> {
        None
    }

    /// When not even that could be stored in the repository: copies the database beside
    /// itself and says where; `None` when the engine has no such copy.
    fn keep_beside(&self) -> Option<io::Result<String>> {
        None
    }

    /// Whether a whole restore keeps the replaced database itself (under another name), so
    /// it may go on when the safety backup failed.
    fn keeps_replaced(&self) -> bool {
        false
    }
}

/// A backup loaded beside its target, not yet in place.
pub trait Staged {
    /// Compares the copy with the backup's catalog as thoroughly as `level` asks (see
    /// [`RestoreCheck`]), saying which integrity check ran now and which one the backup
    /// recorded as passed.
    fn check(&mut self, level: RestoreCheck) -> Result<CopyCheck>;

    /// Puts the copy in place of the live database in one atomic step. `keep` is called first,
    /// once no writer can commit to the live database any more (see [`KeepReplaced`]); it is
    /// not called when there is nothing to replace. Returns a note for people when something
    /// is worth saying (where the replaced database was kept).
    fn swap_in(self: Box<Self>, keep: KeepReplaced) -> Result<Option<String>>;
}

/// Refuses an option an engine does not have, naming it.
pub fn unsupported(engine: &str, option: &str, instead: &str) -> SourceError {
    SourceError::new(SourceErrorKind::Usage, format!("{option} cannot be used with a {engine} database"), instead.to_string())
}
