//! SQLite behind the engine contract: a database is a file; a restore stages a checked copy
//! beside it and swaps it in through SQLite itself (see `restore.rs`).

use std::{
    collections::BTreeMap,
    io::{self, Write},
    path::{Path, PathBuf},
};

use super::{
    IMAGE_STREAM, RawFiles, RestoredCopy, SqliteSource, export::export_sql, inspect, restore::write_copy, restore_table, with_suffix,
};
use crate::{
    BackupStreams, Caps, CaptureOptions, Catalog, CopyCheck, Database, Engine, KeepReplaced, RestoreCheck, RestoreOptions, Result, Sample,
    Source, SourceError, SourceErrorKind, Staged, TableSet, contract::unsupported,
};

/// SQLite files: `sqlite:PATH`, `sqlite://PATH`, or a plain path.
pub struct SqliteEngine;

impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn caps(&self) -> Caps {
        Caps {
            subsets: false,
            globals: false,
            parallel: false,
            integrity_levels: true,
            table_restore: true,
            table_restore_beside: false,
            ends_sessions: false,
            drills_need_a_server: false,
            point_in_time: false,
        }
    }

    fn claims(&self, url: &str) -> bool {
        url.starts_with("sqlite:") || !url.contains("://")
    }

    fn database(&self, url: &str) -> Result<Box<dyn Database>> {
        let path = url.strip_prefix("sqlite:").map_or(url, |p| p.strip_prefix("//").unwrap_or(p));
        if path.is_empty() {
            return Err(SourceError::new(SourceErrorKind::Usage, "no database file given", "pass a path, e.g. /srv/app/app.db"));
        }
        Ok(Box::new(SqliteDatabase { path: PathBuf::from(path), _scratch: None }))
    }

    fn repair_hint(&self) -> &'static str {
        "repair the database (`sqlite3 app.db .recover | sqlite3 repaired.db`)"
    }

    fn relative_to(&self, base: &Path, url: &str) -> String {
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        if url.contains("://") || Path::new(path).is_absolute() { url.to_string() } else { base.join(path).display().to_string() }
    }

    fn find_table(&self, catalog: &Catalog, name: &str) -> Result<TableSet> {
        super::virtual_table::find(catalog, name)
    }

    fn scratch(&self, backup: &dyn BackupStreams, scratch: Option<&str>, _live: Option<&str>) -> Result<Box<dyn Database>> {
        let dir = ScratchDir::new(scratch.map(Path::new))?;
        let path = dir.0.path().join(format!("{}.sqlite", backup.id()));
        Ok(Box::new(SqliteDatabase { path, _scratch: Some(dir) }))
    }

    fn samples(&self, backup: &dyn BackupStreams, limit: usize, scratch: Option<&Path>) -> Result<BTreeMap<String, Sample>> {
        let (_dir, copy) = scratch_copy(backup, scratch)?;
        let conn = copy.open()?;
        let mut samples = BTreeMap::new();
        for table in backup.catalog().tables.iter().filter(|t| !inspect::is_virtual(&t.sql)) {
            samples.insert(table.name.clone(), inspect::sample_rows(&conn, &table.name, limit)?);
        }
        Ok(samples)
    }

    fn export_sql(&self, backup: &dyn BackupStreams, out: &mut dyn Write, scratch: Option<&Path>) -> Result<()> {
        let (_dir, copy) = scratch_copy(backup, scratch)?;
        let journal_mode = backup.catalog().properties.get("journal_mode").and_then(|m| m.as_str());
        export_sql(&copy.open()?, journal_mode, out)
    }
}

/// A temporary folder, removed with everything in it when dropped.
struct ScratchDir(tempfile::TempDir);

impl ScratchDir {
    fn new(parent: Option<&Path>) -> Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = tempfile::Builder::new().prefix("lifeboat-scratch-").tempdir_in(&parent).map_err(|e| {
            SourceError::new(
                SourceErrorKind::Io,
                format!("cannot create a scratch folder in {}", parent.display()),
                "pass --scratch DIR on a disk with room for the database",
            )
            .with_source(e)
        })?;
        Ok(Self(dir))
    }
}

/// The backup's image written and checked in a scratch folder (removed with the first value).
fn scratch_copy(backup: &dyn BackupStreams, scratch: Option<&Path>) -> Result<(ScratchDir, RestoredCopy)> {
    let dir = ScratchDir::new(scratch)?;
    let copy = image_copy(backup, &dir.0.path().join(format!("{}.sqlite", backup.id())))?;
    Ok((dir, copy))
}

/// The backup's image, read through its checks, as a new copy for `target` (not yet in place).
fn image_copy(backup: &dyn BackupStreams, target: &Path) -> Result<RestoredCopy> {
    write_copy(target, |out| backup.read(IMAGE_STREAM, out))
}

/// A SQLite database file (and, for drills, the scratch folder it lives in).
struct SqliteDatabase {
    path: PathBuf,
    _scratch: Option<ScratchDir>,
}

impl SqliteDatabase {
    fn refuse_options(options: &RestoreOptions) -> Result<()> {
        let instead = "a SQLite restore is always the whole file, or one table of it in place";
        if options.table_as.is_some() {
            return Err(unsupported("sqlite", "--as", "restore the whole database to a new file and copy the table from there"));
        }
        for (set, name) in
            [(options.terminate_connections, "--terminate-connections"), (options.globals, "--globals"), (options.jobs.is_some(), "--jobs")]
        {
            if set {
                return Err(unsupported("sqlite", name, instead));
            }
        }
        Ok(())
    }

    fn not_a_folder(&self) -> Result<()> {
        if self.path.is_dir() {
            return Err(SourceError::new(
                SourceErrorKind::Usage,
                format!("{} is a folder", self.path.display()),
                "name the database file itself",
            ));
        }
        Ok(())
    }
}

/// How long a health probe waits for a writer's lock before it counts the database as busy.
const PROBE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl Database for SqliteDatabase {
    fn engine(&self) -> &'static dyn Engine {
        &SqliteEngine
    }

    fn label(&self) -> String {
        self.path.display().to_string()
    }

    fn exists(&self) -> Result<bool> {
        Ok(self.path.exists())
    }

    fn size(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    /// `PRAGMA quick_check` of the live file: pages, records and free lists, without the
    /// index look-ups of the full check.
    fn probe(&self) -> Result<()> {
        if !self.path.exists() {
            return Err(SourceError::new(
                SourceErrorKind::NotFound,
                format!("{} does not exist", self.path.display()),
                "check the path; a database that moved needs its new path in the configuration",
            ));
        }
        let conn = super::open::open_read_only(&self.path)?;
        // A health check must not wait a minute on a writer's lock (a backup may; this may
        // not): a database that is locked is there and in use, which is what was asked.
        conn.busy_timeout(PROBE_BUSY_TIMEOUT).map_err(|e| super::open::database(&self.path, "cannot configure", e))?;
        let first: String = match conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0)) {
            Ok(first) => first,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => return Ok(()),
            Err(e) => {
                return Err(SourceError::new(SourceErrorKind::Database, format!("reading {}", self.path.display()), "check the file")
                    .with_source(e));
            }
        };
        if first != "ok" {
            return Err(SourceError::new(
                SourceErrorKind::Corrupt,
                format!("{} fails PRAGMA quick_check: {first}", self.path.display()),
                "restore the newest good backup beside it (`lifeboat restore latest --to new.db`) and compare",
            ));
        }
        Ok(())
    }

    fn source(&self, options: &CaptureOptions) -> Result<Box<dyn Source>> {
        let integrity = options.integrity.unwrap_or_default();
        let refused = options.refused_by(SqliteEngine.caps());
        if !refused.is_empty() {
            return Err(unsupported("sqlite", &refused.join(", "), "a SQLite backup is always the whole file, read as one stream"));
        }
        Ok(Box::new(SqliteSource::new(&self.path).with_integrity(integrity)))
    }

    fn stage(&self, backup: &dyn BackupStreams, options: &RestoreOptions) -> Result<Box<dyn Staged>> {
        Self::refuse_options(options)?;
        self.not_a_folder()?;
        let copy = image_copy(backup, &self.path)?;
        Ok(Box::new(StagedFile { copy, target: self.path.clone(), catalog: backup.catalog().clone() }))
    }

    fn restore_table(&self, backup: &dyn BackupStreams, set: &TableSet, options: &RestoreOptions, keep: KeepReplaced) -> Result<u64> {
        Self::refuse_options(options)?;
        let copy = image_copy(backup, &self.path)?;
        let check = copy.check(backup.catalog(), options.check)?;
        if !check.ok() {
            return Err(SourceError::new(
                SourceErrorKind::Corrupt,
                format!("the restored copy of snapshot {} failed its checks: {}", backup.id(), check.problems().join("; ")),
                "the target was not touched; try an older snapshot and run `lifeboat check --read-data`",
            ));
        }
        restore_table(&copy, &self.path, set, backup.catalog(), keep)
    }

    fn raw_source(&self, why: &str) -> Option<Box<dyn Source>> {
        Some(Box::new(RawFiles::new(&self.path, why)))
    }

    fn keep_beside(&self) -> Option<io::Result<String>> {
        Some(copy_beside(&self.path).map(|p| p.display().to_string()))
    }
}

/// A checked copy beside its target.
struct StagedFile {
    copy: RestoredCopy,
    target: PathBuf,
    catalog: Catalog,
}

impl Staged for StagedFile {
    fn check(&mut self, level: RestoreCheck) -> Result<CopyCheck> {
        self.copy.check(&self.catalog, level)
    }

    fn swap_in(self: Box<Self>, keep: KeepReplaced) -> Result<Option<String>> {
        let StagedFile { copy, target, catalog, .. } = *self;
        let moved = copy.put_in_place(&target, &catalog, keep)?;
        Ok((!moved.is_empty()).then(|| {
            let names: Vec<String> = moved.iter().map(|p| p.display().to_string()).collect();
            format!(
                "side files of a database that was no longer there were moved aside, not replayed onto the restored one: {}",
                names.join(", ")
            )
        }))
    }
}

/// Copies the database file and its side files to `<file>.lifeboat-kept-<time>[-wal|-journal]`
/// with the same permission bits, synced. Returns the main copy's path.
fn copy_beside(path: &Path) -> io::Result<PathBuf> {
    let stamp = jiff::Zoned::now().strftime("%Y%m%d%H%M%S").to_string();
    let base = with_suffix(path, &format!(".lifeboat-kept-{stamp}"));
    for suffix in ["", "-wal", "-journal"] {
        let from = with_suffix(path, suffix);
        if from.exists() {
            let to = with_suffix(&base, suffix);
            // Read through a deferred file: a restore may hold the database's SQLite lock.
            let mut copy =
                std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().write(true).create_new(true), 0o600).open(&to)?;
            std::io::copy(&mut super::deferred_close::open(&from)?, &mut copy)?;
            copy.set_permissions(std::fs::metadata(&from)?.permissions())?;
            copy.sync_all()?;
        }
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(folder)?.sync_all()?;
    Ok(base)
}
