//! PostgreSQL behind the engine contract: a database is a libpq URL; a restore loads into a
//! new database `<name>_lifeboat_new` on the same server and swaps the names in one
//! transaction, keeping the replaced database as `<name>_lifeboat_old_<time>`.

use std::{collections::BTreeMap, io::Write, path::Path};

use super::{
    Conn, PostgresSource, Subset, Tools,
    capture::GLOBALS,
    export::{export_sql, sample_rows},
    restore::{Loaded, apply_globals, check, create_database, database_exists, drop_database, load, restore_table, swap},
};
use crate::{
    BackupStreams, CaptureOptions, Catalog, CopyCheck, Database, Engine, KeepReplaced, RestoreCheck, RestoreOptions, Result, Sample,
    Source, SourceError, SourceErrorKind, Staged, TableSet,
};

/// PostgreSQL databases: `postgres://…` and `postgresql://…` URLs, as libpq reads them.
pub struct PostgresEngine;

impl Engine for PostgresEngine {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn caps(&self) -> crate::Caps {
        crate::Caps {
            subsets: true,
            globals: true,
            parallel: true,
            integrity_levels: false,
            table_restore: true,
            table_restore_beside: true,
            ends_sessions: true,
            drills_need_a_server: true,
            point_in_time: false,
        }
    }

    fn claims(&self, url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    fn database(&self, url: &str) -> Result<Box<dyn Database>> {
        Ok(Box::new(PostgresDatabase { conn: Conn::parse(url)? }))
    }

    fn find_table(&self, catalog: &Catalog, name: &str) -> Result<TableSet> {
        super::table_set::find(catalog, name).ok_or_else(|| {
            let parents = catalog.objects.iter().filter(|o| o.kind == super::table_set::PARTITIONED).map(|o| o.name.as_str());
            crate::no_such_table(name, catalog.tables.iter().map(|t| t.name.as_str()).chain(parents))
        })
    }

    fn scratch(&self, backup: &dyn BackupStreams, scratch: Option<&str>, live: Option<&str>) -> Result<Box<dyn Database>> {
        let conn = match scratch {
            Some(url) => Conn::parse(url)?,
            // The manifest's source has no password: the live URL brings it, when known.
            None => Conn::parse(live.unwrap_or(backup.source()))?.with_database(&format!("lifeboat_verify_{}", backup.id())),
        };
        if database_exists(&Tools::find()?, &conn)? {
            return Err(SourceError::new(
                SourceErrorKind::Usage,
                format!("the scratch database {} already exists", conn.label()),
                "lifeboat only drops databases it created: name one that does not exist with --scratch, or drop it if it is a leftover drill",
            ));
        }
        Ok(Box::new(PostgresDatabase { conn }))
    }

    fn samples(&self, backup: &dyn BackupStreams, limit: usize, _scratch: Option<&Path>) -> Result<BTreeMap<String, Sample>> {
        let read = |name: &str, out: &mut dyn Write| backup.read(name, out);
        let mut samples = BTreeMap::new();
        for table in &backup.catalog().tables {
            let sample = sample_rows(table, &read, limit).map_err(|e| {
                SourceError::new(SourceErrorKind::Io, format!("reading the first rows of {} failed", table.name), "").with_source(e)
            })?;
            samples.insert(table.name.clone(), sample);
        }
        Ok(samples)
    }

    fn export_sql(&self, backup: &dyn BackupStreams, out: &mut dyn Write, _scratch: Option<&Path>) -> Result<()> {
        let read = |name: &str, out: &mut dyn Write| backup.read(name, out);
        export_sql(backup.catalog(), &read, out).map_err(|e| {
            SourceError::new(
                SourceErrorKind::Io,
                format!("exporting snapshot {} failed", backup.id()),
                "check the output's disk, and the repository with `lifeboat check --read-data`",
            )
            .with_source(e)
        })
    }
}

/// Parallel sessions for loading: one per core, at least two (COPY waits on the server too).
fn load_jobs(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| super::default_jobs().max(2))
}

/// `<name>_lifeboat_<suffix>`, cut to PostgreSQL's 63-byte identifier limit.
fn side_name(live: &str, suffix: &str) -> String {
    let tail = format!("_lifeboat_{suffix}");
    let mut head = live.to_string();
    while head.len() + tail.len() > 63 {
        head.pop();
    }
    head + &tail
}

/// A database on a PostgreSQL server.
struct PostgresDatabase {
    conn: Conn,
}

impl PostgresDatabase {
    fn name(&self) -> Result<&str> {
        self.conn.database().ok_or_else(|| {
            SourceError::new(SourceErrorKind::Usage, format!("{} names no database", self.conn.label()), "end the URL with /DATABASE")
        })
    }
}

impl Database for PostgresDatabase {
    fn engine(&self) -> &'static dyn Engine {
        &PostgresEngine
    }

    fn label(&self) -> String {
        self.conn.label()
    }

    fn exists(&self) -> Result<bool> {
        self.name()?;
        database_exists(&Tools::find()?, &self.conn)
    }

    /// Connects to the database itself and runs a query.
    fn probe(&self) -> Result<()> {
        self.name()?;
        super::psql::query(&Tools::find()?, &self.conn, &["SELECT 1"]).map(|_| ())
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn source(&self, options: &CaptureOptions) -> Result<Box<dyn Source>> {
        let refused = options.refused_by(PostgresEngine.caps());
        if !refused.is_empty() {
            return Err(crate::contract::unsupported(
                "postgres",
                &refused.join(", "),
                "the server checks its own pages; `lifeboat verify` drills a restore",
            ));
        }
        let subset = Subset {
            schemas: options.schemas.clone(),
            tables: options.tables.clone(),
            exclude_tables: options.exclude_tables.clone(),
            globals: options.globals,
        };
        Ok(Box::new(PostgresSource::connect(self.conn.clone())?.with_subset(subset).with_jobs(options.jobs)))
    }

    fn stage(&self, backup: &dyn BackupStreams, options: &RestoreOptions) -> Result<Box<dyn Staged>> {
        let live = self.name()?.to_string();
        let tools = Tools::find()?;
        let read = |name: &str, out: &mut dyn Write| backup.read(name, out);
        if options.globals {
            if !backup.has_stream(GLOBALS) {
                return Err(SourceError::new(
                    SourceErrorKind::Usage,
                    format!("snapshot {} holds no roles: it was taken without --globals", backup.id()),
                    "restore without --globals, or take a backup with `lifeboat backup --globals`",
                ));
            }
            apply_globals(&tools, &self.conn, &read)?;
        }
        // Always load beside the target, under a name that says it is unfinished: a restore
        // killed half-way never leaves a half-loaded database under the name the user gave.
        let staging = self.conn.with_database(&side_name(&live, "new"));
        // A restore killed earlier left this behind; it is ours by name and never live.
        drop_database(&tools, &staging)?;
        let notes = create_database(&tools, &staging, backup.catalog())?;
        let mut staged = StagedDatabase {
            tools,
            target: self.conn.clone(),
            staging,
            loaded: Loaded::default(),
            catalog: backup.catalog().clone(),
            terminate: options.terminate_connections,
            swapped: false,
            notes,
        };
        staged.loaded = load(&staged.tools, &staged.staging, backup.catalog(), &read, load_jobs(options.jobs))?;
        Ok(Box::new(staged))
    }

    fn restore_table(&self, backup: &dyn BackupStreams, set: &TableSet, options: &RestoreOptions, keep: KeepReplaced) -> Result<u64> {
        if options.globals || options.jobs.is_some() {
            return Err(crate::contract::unsupported(
                "postgres",
                "--globals and --jobs with --table",
                "a one-table restore runs on one session",
            ));
        }
        let read = |name: &str, out: &mut dyn Write| backup.read(name, out);
        restore_table(&Tools::find()?, &self.conn, set, &read, options.table_as.as_deref(), keep)
    }

    fn keeps_replaced(&self) -> bool {
        true
    }
}

/// A backup loaded into `<name>_lifeboat_new`; dropped again unless swapped in.
struct StagedDatabase {
    tools: Tools,
    target: Conn,
    staging: Conn,
    loaded: Loaded,
    catalog: Catalog,
    terminate: bool,
    swapped: bool,
    /// What could not be restored as it was (roles the server lacks), for the person.
    notes: Vec<String>,
}

impl Staged for StagedDatabase {
    fn check(&mut self, level: RestoreCheck) -> Result<CopyCheck> {
        check(&self.tools, &self.staging, &self.catalog, &self.loaded, level == RestoreCheck::Full)
    }

    fn swap_in(mut self: Box<Self>, keep: KeepReplaced) -> Result<Option<String>> {
        let live = self.target.database().expect("checked when staged").to_string();
        let exists = database_exists(&self.tools, &self.target)?;
        // The safety backup comes first; whatever commits after it is not lost either: the
        // replaced database itself is kept, renamed only once its sessions have ended.
        if exists {
            keep()?;
        }
        let old = exists.then(|| side_name(&live, &format!("old_{}", jiff::Zoned::now().strftime("%Y%m%d%H%M%S"))));
        swap(&self.tools, &self.target, self.staging.database().expect("named"), old.as_deref(), self.terminate)?;
        self.swapped = true;
        let mut notes = std::mem::take(&mut self.notes);
        notes.extend(
            old.map(|old| {
                format!("the replaced database is kept as `{old}`; drop it when you no longer need it (DROP DATABASE \"{old}\")")
            }),
        );
        Ok((!notes.is_empty()).then(|| notes.join("\n")))
    }
}

impl Drop for StagedDatabase {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = drop_database(&self.tools, &self.staging);
        }
    }
}
