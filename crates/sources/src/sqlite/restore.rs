//! Restoring a SQLite database without ever leaving the target half-written.
//!
//! The image is first written to a new file beside the target (same folder, so a rename is
//! atomic) and checked there against the backup's catalog: row counts, and SQLite's integrity
//! check and content hashes as the restore asks. Only a copy that passed is put in place:
//!
//! * no target yet: the copy is synced and renamed into place, and the folder synced;
//! * a target exists: its pages are replaced in one write transaction on the target
//!   (`BEGIN IMMEDIATE`, then every page written through `sqlite_dbpage`). The transaction
//!   takes the write lock before the safety copy is made and keeps it to the commit, so no
//!   commit of the application falls between them; readers, the safety copy among them, go
//!   on meanwhile (SQLite's backup API would take an exclusive lock that stops readers in
//!   rollback-journal mode). Other connections see either the old or the new database, never
//!   a mix, and SQLite's own journal or WAL makes the replacement atomic across a crash.
//!   Renaming over a live file would be wrong here: open connections would keep writing to
//!   the old inode, and a leftover `-wal` file would be replayed onto the new file.
//!
//! The copy is named `.<target>.lifeboat-partial`; a leftover from an interrupted restore is
//! recognised by that name and removed by the next restore to the same target.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use std::os::unix::fs::OpenOptionsExt;

use rusqlite::{Connection, OpenFlags};

use super::{
    file_mode::{FileMode, PRIVATE},
    inspect::{INTEGRITY, INTEGRITY_LEVEL, content_hash, quote},
    open::{database, open_read_write},
    with_suffix,
};
use crate::{Catalog, CopyCheck, IntegrityLevel, KeepReplaced, RestoreCheck, Result, SourceError, SourceErrorKind, TableCheck};

/// A restored copy of a database, not yet in place. Removed when dropped unless put in place.
#[derive(Debug)]
pub struct RestoredCopy {
    path: PathBuf,
    kept: bool,
}

fn io_error(doing: String, err: io::Error) -> SourceError {
    let hint = if err.raw_os_error() == Some(28) {
        "the disk of the restore's target is full: free space next to the target and try again; the target was not touched"
    } else if err.kind() == io::ErrorKind::PermissionDenied {
        "check that this user may write the target's folder"
    } else {
        ""
    };
    SourceError::new(SourceErrorKind::Io, doing, hint).with_source(err)
}

/// The name of the working copy for `target`.
fn partial_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "database".into());
    target.with_file_name(format!(".{name}.lifeboat-partial"))
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Writes a new copy for `target` with `fill`, synced to disk, and returns it unchecked.
///
/// `fill` writes the database's bytes; when it fails (the backup cannot be read), its error is
/// kept as the cause, unchanged, and the copy is removed.
pub fn write_copy(target: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<u64>) -> Result<RestoredCopy> {
    let path = partial_path(target);
    // A leftover of an interrupted restore: ours by its name, never the user's data.
    for leftover in [path.clone(), with_suffix(&path, "-wal"), with_suffix(&path, "-shm"), with_suffix(&path, "-journal")] {
        let _ = std::fs::remove_file(leftover);
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE)
        .open(&path)
        .map_err(|e| io_error(format!("cannot create {}", path.display()), e))?;
    let copy = RestoredCopy { path: path.clone(), kept: false };
    let mut out = io::BufWriter::with_capacity(1 << 20, &mut file);
    fill(&mut out).map_err(|e| {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let context = format!("writing {} failed", path.display());
        if crate::disk::is_disk_full(&e) {
            // Said here, where the place is known: the cause is this disk, not the repository.
            let hint = format!(
                "{}; the target was not touched",
                crate::disk::full_hint("the folder the restored copy is written to (the target's, or a drill's scratch folder)", folder)
            );
            return SourceError::new(SourceErrorKind::Io, context, hint).with_source(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        SourceError::new(SourceErrorKind::Io, context, "the target was not touched").with_source(e)
    })?;
    out.flush().map_err(|e| io_error(format!("writing {} failed", path.display()), e))?;
    drop(out);
    file.sync_all().map_err(|e| io_error(format!("syncing {} failed", path.display()), e))?;
    Ok(copy)
}

/// Opens a file no one else uses without locks or side files (`immutable=1`).
fn open_immutable(path: &Path) -> Result<Connection> {
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri, flags).map_err(|e| database(path, "cannot open the restored copy", e))
}

/// Percent-encodes what a SQLite URI path cannot hold literally.
pub(super) fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for b in absolute.to_string_lossy().bytes() {
        match b {
            b'%' | b'?' | b'#' | b' ' | b'"' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

impl RestoredCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compares every table's row count with `expected`, and runs SQLite's integrity check
    /// as `level` asks (see [`RestoreCheck`]).
    ///
    /// A copy is written only after its SHA-256 matched the manifest, so it is the very image
    /// the backup's check ran on: by default that check stands, and only a backup that ran
    /// none gets a `quick_check` now (one recorded as damaged gets the full check, so its
    /// findings are named). `Full` runs `integrity_check` and compares content hashes.
    pub fn check(&self, expected: &Catalog, level: RestoreCheck) -> Result<CopyCheck> {
        let conn = open_immutable(&self.path)?;
        let at_backup = passed_at_backup(expected);
        let now = match (level, at_backup) {
            (RestoreCheck::Full, _) => Some(IntegrityLevel::Full),
            (RestoreCheck::Recorded, _) if expected.damaged_at_backup() => Some(IntegrityLevel::Full),
            (RestoreCheck::Recorded, Some(_)) => None,
            (RestoreCheck::Recorded, None) => Some(IntegrityLevel::Quick),
        };
        let mut check = check_database(&conn, expected, now, level == RestoreCheck::Full)?;
        check.integrity_at_backup = at_backup;
        Ok(check)
    }

    /// Opens the copy for reading (reports, samples, exports).
    pub fn open(&self) -> Result<Connection> {
        open_immutable(&self.path)
    }

    /// Puts the checked copy in place of `target` (see the module's documentation). A target
    /// that exists keeps its mode and owner; a new one gets those `catalog` recorded (or
    /// stays `0600` when the backup recorded none).
    ///
    /// An existing target is kept by `keep` first, while the replacement holds its write lock:
    /// a writer that commits before the lock is in what `keep` keeps, one that waits for it
    /// commits onto the restored database, and none is lost in between.
    ///
    /// Returns the side files (`-wal`, `-journal`, `-shm`) of a database that was no longer
    /// there, which were moved aside as `<file>-wal.lifeboat-stale` rather than replayed onto
    /// the new file, so the caller can say so.
    pub fn put_in_place(mut self, target: &Path, catalog: &Catalog, keep: KeepReplaced) -> Result<Vec<PathBuf>> {
        if target.exists() {
            replace_pages(&self.path, target, keep)?;
            return Ok(Vec::new());
        }
        // Side files without their database would be replayed onto the new file: move them
        // aside (never delete what might be someone's data).
        let mut moved = Vec::new();
        for suffix in ["-wal", "-journal", "-shm"] {
            let side = with_suffix(target, suffix);
            if side.exists() {
                let aside = with_suffix(target, &format!("{suffix}.lifeboat-stale"));
                std::fs::rename(&side, &aside).map_err(|e| io_error(format!("cannot move {} aside", side.display()), e))?;
                moved.push(aside);
            }
        }
        if let Some(mode) = FileMode::recorded(catalog) {
            mode.apply(&self.path)?;
        }
        std::fs::rename(&self.path, target).map_err(|e| io_error(format!("cannot move the restored copy to {}", target.display()), e))?;
        self.kept = true;
        sync_dir(target).map_err(|e| io_error(format!("cannot sync the folder of {}", target.display()), e))?;
        Ok(moved)
    }
}

/// Replaces every page of the live database `target` with those of the checked copy `copy`,
/// in one write transaction that is open from before `keep` runs to the commit (see the
/// module's documentation).
fn replace_pages(copy: &Path, target: &Path, keep: KeepReplaced) -> Result<()> {
    // Our own reads of the file while the lock is held must not drop it (deferred_close.rs).
    let _scope = super::deferred_close::LockScope::enter();
    let conn = open_read_write(target)?;
    let fail = |doing: &'static str| move |e| database(target, doing, e);
    // The transaction rolls back, changing nothing, on every early return below.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(fail("cannot lock"))?;
    keep()?;
    // The copy is read on a connection of its own: sqlite_dbpage opens a write transaction on
    // every database of the connection it writes through.
    let source = open_immutable(copy)?;
    let from_copy = |e| database(copy, "reading the restored copy", e);
    let size = |conn: &Connection| conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0));
    let (live_size, copy_size) = (size(&conn).map_err(fail("reading"))?, size(&source).map_err(from_copy)?);
    if live_size != copy_size {
        return Err(SourceError::new(
            SourceErrorKind::Incompatible,
            format!(
                "{} has pages of {live_size} bytes now, the backup {copy_size}: its pages cannot replace them in place",
                target.display()
            ),
            "restore to a new file (`--to new.db`) and move it in place while the application is stopped; nothing was changed",
        ));
    }
    let first_page = |conn: &Connection| conn.query_row("SELECT data FROM sqlite_dbpage WHERE pgno = 1", [], |r| r.get::<_, Vec<u8>>(0));
    let pages = |conn: &Connection| conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0));
    let live_first = first_page(&conn).map_err(fail("reading"))?;
    let mut first = first_page(&source).map_err(from_copy)?;
    let (live_pages, copy_pages) = (pages(&conn).map_err(fail("reading"))?, pages(&source).map_err(from_copy)?);
    // Page 1's header tells other connections that the database changed. As SQLite's backup
    // API does: the schema cookie moves on from the live one (so every connection reloads
    // the schema), the change counter stays the live one (a rollback-journal commit adds one
    // to it) and is valid for the page count written beside it.
    let counter = u32::from_be_bytes(live_first[24..28].try_into().expect("a header"));
    let cookie = u32::from_be_bytes(live_first[40..44].try_into().expect("a header")).wrapping_add(1);
    first[24..28].copy_from_slice(&counter.to_be_bytes());
    first[28..32].copy_from_slice(&(copy_pages as u32).to_be_bytes());
    first[40..44].copy_from_slice(&cookie.to_be_bytes());
    first[92..96].copy_from_slice(&counter.to_be_bytes());
    let mut write = conn.prepare("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, ?2)").map_err(fail("replacing the content of"))?;
    let mut read = source.prepare("SELECT pgno, data FROM sqlite_dbpage WHERE pgno > 1 ORDER BY pgno").map_err(from_copy)?;
    let mut rows = read.query([]).map_err(from_copy)?;
    while let Some(row) = rows.next().map_err(from_copy)? {
        let (pgno, data): (i64, rusqlite::types::ValueRef) = (row.get(0).map_err(from_copy)?, row.get_ref(1).map_err(from_copy)?);
        write
            .execute(rusqlite::params![pgno, data.as_blob().map_err(|e| from_copy(e.into()))?])
            .map_err(fail("replacing the content of"))?;
    }
    if live_pages > copy_pages {
        // Page copy_pages + 1 and all after it go.
        conn.execute("INSERT INTO sqlite_dbpage(pgno, data) VALUES (?1, NULL)", [copy_pages + 1]).map_err(fail("truncating"))?;
    }
    // Page 1 last: until it is written, SQLite reads the live header (sizes, free list).
    write.execute(rusqlite::params![1, first]).map_err(fail("replacing the content of"))?;
    drop(write);
    conn.execute_batch("COMMIT").map_err(fail("replacing the content of"))?;
    Ok(())
}

impl Drop for RestoredCopy {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The integrity check the backup of `catalog` recorded as passed; `None` when it ran none or
/// found damage. Backups from before the level was recorded always ran the full check.
fn passed_at_backup(catalog: &Catalog) -> Option<IntegrityLevel> {
    let props = &catalog.properties;
    let level = props.get(INTEGRITY_LEVEL).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or(IntegrityLevel::Full);
    (level != IntegrityLevel::Off && props.get(INTEGRITY) == Some(&serde_json::Value::from("ok"))).then_some(level)
}

/// Integrity at `integrity` (none when `None`), row counts and, with `hashes`, content hashes
/// of the database on `conn` against `expected`.
pub(crate) fn check_database(conn: &Connection, expected: &Catalog, integrity: Option<IntegrityLevel>, hashes: bool) -> Result<CopyCheck> {
    // A database too damaged for the check to finish is a finding, not a failure to check.
    let integrity_problems = match integrity {
        Some(level) => {
            super::inspect::integrity_problems(conn, level).unwrap_or_else(|e| vec![format!("the integrity check could not finish: {e}")])
        }
        None => Vec::new(),
    };
    let mut tables = Vec::new();
    for table in &expected.tables {
        let rows: Option<i64> = conn.query_row(&format!("SELECT count(*) FROM {}", quote(&table.name)), [], |r| r.get(0)).ok();
        let hash_matches = match (rows, hashes && !table.content_hash.is_empty()) {
            (Some(_), true) => Some(content_hash(conn, &table.name)? == table.content_hash),
            _ => None,
        };
        tables.push(TableCheck { table: table.name.clone(), expected_rows: table.rows, actual_rows: rows.map(|r| r as u64), hash_matches });
    }
    Ok(CopyCheck { integrity_problems, integrity_now: integrity, integrity_at_backup: None, tables })
}
