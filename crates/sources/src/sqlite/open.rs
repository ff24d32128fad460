//! Opening a SQLite file with errors a person can act on.

use std::{io::Read, path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags};

use crate::{Result, SourceError, SourceErrorKind};

const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How long we wait for a writer's lock before giving up; the app's writers stay unaffected.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks that `path` is a readable SQLite database and opens it read-only.
///
/// A read-only connection never checkpoints or deletes the WAL, so backing up leaves the
/// database exactly as it was.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    check_file(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| database(path, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| database(path, "cannot configure", e))?;
    Ok(conn)
}

/// Opens an existing database for writing (restores into it).
pub(crate) fn open_read_write(path: &Path) -> Result<Connection> {
    check_file(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| database(path, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| database(path, "cannot configure", e))?;
    Ok(conn)
}

/// Exists, is a file, can be read, and starts with SQLite's header.
fn check_file(path: &Path) -> Result<()> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::new(
            SourceErrorKind::NotFound,
            format!("{shown} does not exist"),
            "check the path; lifeboat backs up an existing SQLite file and never creates one",
        ),
        std::io::ErrorKind::PermissionDenied => permission(path),
        _ => SourceError::new(SourceErrorKind::Io, format!("cannot read {shown}"), "").with_source(e),
    })?;
    if meta.is_dir() {
        return Err(SourceError::new(
            SourceErrorKind::NotADatabase,
            format!("{shown} is a folder, not a SQLite database"),
            "name the database file itself",
        ));
    }
    let mut header = [0u8; 16];
    // Never a plain File: closing it would drop this process's SQLite locks on the file.
    let mut file = super::deferred_close::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => permission(path),
        _ => SourceError::new(SourceErrorKind::Io, format!("cannot read {shown}"), "").with_source(e),
    })?;
    let read = file.read(&mut header).unwrap_or(0);
    if read < HEADER.len() || &header != HEADER {
        let what = if meta.len() == 0 { "is empty" } else { "is not a SQLite database (its header is not `SQLite format 3`)" };
        return Err(SourceError::new(
            SourceErrorKind::NotADatabase,
            format!("{shown} {what}"),
            "check that this is the right file; an encrypted (SQLCipher) database cannot be read either",
        ));
    }
    Ok(())
}

fn permission(path: &Path) -> SourceError {
    SourceError::new(
        SourceErrorKind::PermissionDenied,
        format!("permission denied reading {}", path.display()),
        "run lifeboat as a user that may read the database file and its folder",
    )
}

/// SQLite's extended code for "the folder of a WAL database is not writable".
const SQLITE_READONLY_DIRECTORY: std::ffi::c_int = 1544;

/// A WAL database whose `-shm` file does not exist and cannot be created by this user.
///
/// SQLite coordinates readers and writers of a WAL database through the `-shm` file; without it
/// a reader could miss a concurrent writer's commits, so SQLite refuses, and so do we (reading
/// the file as `immutable` would be unsafe the moment the application writes).
fn wal_folder_not_writable(path: &Path) -> SourceError {
    use std::os::unix::fs::MetadataExt;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let owner = std::fs::metadata(path).map(|m| format!(" (uid {})", m.uid())).unwrap_or_default();
    SourceError::new(
        SourceErrorKind::PermissionDenied,
        format!(
            "cannot read WAL database {}: SQLite must create its -shm file in {}, which this user may not write",
            path.display(),
            folder.display()
        ),
        format!("run lifeboat as the database's owner{owner} or a user who may write its folder; nothing was read or changed"),
    )
}

/// A SQLite error while working on `path`, with the kind mapped from SQLite's code.
pub(crate) fn database(path: &Path, doing: &str, err: rusqlite::Error) -> SourceError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && failure.extended_code == SQLITE_READONLY_DIRECTORY
    {
        return wal_folder_not_writable(path).with_source(err);
    }
    let code = err.sqlite_error_code();
    let (kind, hint) = match code {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            (SourceErrorKind::Busy, "another process held a lock for too long; try again when it is idle")
        }
        Some(rusqlite::ErrorCode::NotADatabase) => (SourceErrorKind::NotADatabase, "check that this is the right file"),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            (SourceErrorKind::Corrupt, "the database is damaged; restore it from an earlier backup with `lifeboat restore`")
        }
        Some(rusqlite::ErrorCode::PermissionDenied | rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            (SourceErrorKind::PermissionDenied, "check that this user may read (and for a restore, write) the file and its folder")
        }
        Some(rusqlite::ErrorCode::OperationInterrupted) => (SourceErrorKind::Interrupted, "nothing was changed"),
        _ => (SourceErrorKind::Database, ""),
    };
    SourceError::new(kind, format!("{doing} {}", path.display()), hint).with_source(err)
}
