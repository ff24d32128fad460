//! PostgreSQL: consistent parallel logical backups through one exported snapshot, and
//! restores into a new database (DESIGN.md decision 3).
//!
//! A backup is: `ddl/pre-data.sql` and `ddl/post-data.sql` from `pg_dump --section`, one
//! `data/<schema>.<table>/<part>` stream of COPY text per table part, `ddl/sequences.sql`
//! (setval calls), `large-objects/<oid>` (hex lines) and `ddl/database.sql` (the database's
//! own properties, see `database.rs`), all read from the same snapshot.

mod capture;
mod conn;
mod database;
mod engine;
mod export;
mod leader;
mod post_data;
mod psql;
mod restore;
mod sessions;
mod shared_copy;
mod structure;
mod table_set;
mod tools;

pub use conn::Conn;
pub use engine::PostgresEngine;
pub use tools::Tools;

use crate::{Capture, Result, Source};

/// Which part of a database a backup keeps. Empty lists mean everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subset {
    pub schemas: Vec<String>,
    /// `name` (any schema) or `schema.name`.
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    /// Also keep roles and tablespaces as `globals.sql`.
    pub globals: bool,
}

impl Subset {
    /// Whether tables are filtered (then, as with pg_dump, large objects are left out).
    pub fn is_partial(&self) -> bool {
        !(self.schemas.is_empty() && self.tables.is_empty() && self.exclude_tables.is_empty())
    }

    pub(crate) fn keeps(&self, schema: &str, table: &str) -> bool {
        let matches = |pattern: &String| match pattern.split_once('.') {
            Some((s, t)) => s == schema && t == table,
            None => pattern == table,
        };
        (self.schemas.is_empty() || self.schemas.iter().any(|s| s == schema))
            && (self.tables.is_empty() || self.tables.iter().any(matches))
            && !self.exclude_tables.iter().any(matches)
    }
}

/// Sessions a backup reads with when not told: one per core, as many as the archiver has
/// workers to take their streams.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A PostgreSQL database reached through a libpq URL.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    conn: Conn,
    tools: Tools,
    facts: std::sync::Arc<capture::ServerFacts>,
    subset: Subset,
    jobs: usize,
}

impl PostgresSource {
    /// Connects once to learn the database's name and version, and checks that the local
    /// `pg_dump` can dump it.
    pub fn connect(conn: Conn) -> Result<Self> {
        let tools = Tools::find()?;
        let facts = capture::server_facts(&tools, &conn)?;
        tools.check_server(facts.version_num / 10_000)?;
        Ok(Self { conn, tools, facts: std::sync::Arc::new(facts), subset: Subset::default(), jobs: default_jobs() })
    }

    /// Keeps only `subset` of the database.
    pub fn with_subset(mut self, subset: Subset) -> Self {
        self.subset = subset;
        self
    }

    /// Reads with at most `jobs` sessions at once (default: one per core).
    pub fn with_jobs(mut self, jobs: Option<usize>) -> Self {
        self.jobs = jobs.unwrap_or_else(default_jobs);
        self
    }

    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }
}

impl Source for PostgresSource {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    fn name(&self) -> &str {
        &self.facts.database
    }

    fn identity(&self) -> String {
        format!("postgres:{}/{}", self.facts.cluster, self.facts.database)
    }

    fn capture(&self, _previous: Option<&crate::Catalog>, _stop: &dyn Fn() -> bool) -> Result<Capture> {
        capture::capture(&self.tools, &self.conn, (*self.facts).clone(), &self.subset, self.jobs)
    }
}
