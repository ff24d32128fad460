//! PostgreSQL: consistent parallel logical backups through one exported snapshot, and
//! restores into a new database (DESIGN.md decision 3).
//!
//! A backup is: `ddl/pre-data.sql` and `ddl/post-data.sql` from `pg_dump --section`, one
//! `data/<schema>.<table>/<part>` stream of COPY text per table part, `ddl/sequences.sql`
//! (setval calls) and `large-objects/<oid>` (hex lines), all read from the same snapshot.

mod capture;
mod conn;
mod export;
mod leader;
mod psql;
mod restore;
mod tools;

pub use conn::Conn;
pub use export::{export_sql, sample_rows};
pub use restore::{ReadStream, check, create_database, database_exists, drop_database, load, restore_table, swap};
pub use tools::Tools;

use crate::{Capture, Result, Source};

/// A PostgreSQL database reached through a libpq URL.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    conn: Conn,
    tools: Tools,
    facts: std::sync::Arc<capture::ServerFacts>,
}

impl PostgresSource {
    /// Connects once to learn the database's name and version, and checks that the local
    /// `pg_dump` can dump it.
    pub fn connect(conn: Conn) -> Result<Self> {
        let tools = Tools::find()?;
        let facts = capture::server_facts(&tools, &conn)?;
        tools.check_server(facts.version_num / 10_000)?;
        Ok(Self { conn, tools, facts: std::sync::Arc::new(facts) })
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

    fn capture(&self) -> Result<Capture> {
        capture::capture(&self.tools, &self.conn, (*self.facts).clone())
    }
}
