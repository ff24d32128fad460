//! Pinning one point in time of a SQLite database, for two readers at once.
//!
//! A backup reads the database twice: the page image (what is stored and restored) and the
//! catalog (row counts and per-table content hashes, what verification compares with). Both
//! must describe the same point in time, or verification would flag a correct backup.
//!
//! * In WAL mode readers do not block writers, so a second connection that simply began later
//!   could see newer commits. We begin a read transaction on the image connection, take a
//!   `sqlite3_snapshot` of it, and open the catalog's connections *on that snapshot*: one
//!   reads the rows, one runs the integrity check (each takes about as long as the image, so
//!   one after the other they would be what the backup waits for). All read in parallel, and
//!   the application keeps writing meanwhile.
//! * In rollback-journal mode a second reader is not worth it (a writer waiting for its
//!   exclusive lock would make our second lock request fail), so both readers share the one
//!   connection and its one transaction, one after the other.
//!
//! The read transaction is what makes the image consistent: `sqlite_dbpage` reads pages through
//! SQLite's pager, so committed frames still in the `-wal` file are included, and frames
//! committed after our transaction began are not.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rusqlite::{Connection, ffi};

use super::open::{BUSY_TIMEOUT, database, open_read_only};
use crate::{Result, SourceError, SourceErrorKind};

/// A connection inside a read transaction on the pinned point in time.
#[derive(Clone)]
pub(crate) struct PinnedConnection(Arc<Mutex<Connection>>);

impl PinnedConnection {
    /// Runs `f` with the connection; the point in time is the same for every call.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let conn = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&conn)
    }
}

/// The connections of one pinned point in time.
pub(crate) struct PinnedRead {
    pub image: PinnedConnection,
    /// Reads the catalog's rows; the image's own connection when `shared`.
    pub catalog: PinnedConnection,
    /// Runs the integrity check beside the catalog; `None` when it runs on `catalog` first.
    pub check: Option<PinnedConnection>,
    /// Whether `catalog` is the image's connection: in rollback-journal mode, or when a second
    /// connection on the snapshot was not possible.
    pub shared: bool,
}

impl PinnedRead {
    /// Begins the read transaction, waiting up to [`BUSY_TIMEOUT`] for a writer's lock and
    /// asking `stop` between short waits (a cancelled job gives up at once).
    pub(crate) fn begin(path: &Path, stop: &dyn Fn() -> bool) -> Result<Self> {
        let image = open_read_only(path)?;
        let started = Instant::now();
        image.busy_timeout(STOP_POLL).map_err(|e| database(path, "cannot configure", e))?;
        loop {
            match begin_read(&image) {
                Ok(()) => break,
                Err(e) if busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    let _ = image.execute_batch("ROLLBACK");
                    if stop() {
                        return Err(SourceError::new(
                            SourceErrorKind::Interrupted,
                            format!("stopped while waiting for a writer's lock on {}", path.display()),
                            "nothing was read",
                        ));
                    }
                }
                Err(e) => return Err(database(path, "cannot start a read transaction on", e)),
            }
        }
        image.busy_timeout(BUSY_TIMEOUT).map_err(|e| database(path, "cannot configure", e))?;
        let mode: String =
            image.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| database(path, "cannot read the header of", e))?;
        let wal = mode.eq_ignore_ascii_case("wal");

        let catalog = if wal { open_on_same_snapshot(path, &image).ok() } else { None };
        let check = if catalog.is_some() { open_on_same_snapshot(path, &image).ok() } else { None };
        let shared = catalog.is_none();
        let pinned = |c| PinnedConnection(Arc::new(Mutex::new(c)));
        let image = pinned(image);
        let catalog = catalog.map_or_else(|| image.clone(), pinned);
        Ok(Self { image, catalog, check: check.map(pinned), shared })
    }
}

/// How long each wait for a writer's lock lasts before `stop` is asked again.
const STOP_POLL: Duration = Duration::from_millis(250);

fn busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// `BEGIN` is deferred: the snapshot is taken by the first read, so read something.
fn begin_read(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
}

/// A second read-only connection whose read transaction sees exactly what `pinned` sees;
/// `Err` (the caller shares `pinned` instead) when that cannot be made sure.
fn open_on_same_snapshot(path: &Path, pinned: &Connection) -> std::result::Result<Connection, ()> {
    let second = open_read_only(path).map_err(|_| ())?;
    // A connection that has never read has not opened the WAL yet, and snapshot_open refuses
    // it (SQLITE_ERROR): one read in a transaction of its own opens it.
    second.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())).map_err(|_| ())?;
    match Snapshot::of(pinned) {
        Some(snapshot) => {
            second.execute_batch("BEGIN").map_err(|_| ())?;
            if !snapshot.open_on(&second) {
                return Err(());
            }
        }
        None => {
            // SQLite names no snapshot while the WAL has no frames (every backup of a database
            // no one has written to since it was opened). The pinned reader then reads the
            // database file alone, and while it does no checkpoint may write into that file
            // (it holds WAL read lock 0). A second reader that finds no frames either reads
            // the very same bytes; one that finds some began after a commit, and is not used.
            begin_read(&second).map_err(|_| ())?;
            if Snapshot::of(&second).is_some() {
                return Err(());
            }
        }
    }
    Ok(second)
}

/// A point in time of a WAL database that other connections can be opened on.
struct Snapshot(*mut ffi::sqlite3_snapshot);

impl Snapshot {
    /// What `conn`'s read transaction sees; `None` outside a read transaction, and when the
    /// WAL has had no frame written since it was created.
    fn of(conn: &Connection) -> Option<Self> {
        let mut snapshot: *mut ffi::sqlite3_snapshot = std::ptr::null_mut();
        // SAFETY: `conn` is a live connection; on success SQLite hands us a snapshot that we
        // free exactly once, in `drop`.
        let rc = unsafe { ffi::sqlite3_snapshot_get(conn.handle(), c"main".as_ptr(), &mut snapshot) };
        (rc == ffi::SQLITE_OK && !snapshot.is_null()).then_some(Self(snapshot))
    }

    /// Starts `conn`'s read transaction on this point in time; `conn` must be inside a `BEGIN`
    /// that has not read yet. Whether that worked.
    fn open_on(&self, conn: &Connection) -> bool {
        // SAFETY: both the connection and the snapshot are live for the duration of the call.
        unsafe { ffi::sqlite3_snapshot_open(conn.handle(), c"main".as_ptr(), self.0) == ffi::SQLITE_OK }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: the pointer came from sqlite3_snapshot_get and is freed only here.
        unsafe { ffi::sqlite3_snapshot_free(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    /// The rows of `t` that the image's, the catalog's and the check's connections see.
    fn rows_seen(pinned: &PinnedRead) -> [i64; 3] {
        let check = pinned.check.as_ref().expect("the check runs on a connection of its own");
        [pinned.image.with(rows), pinned.catalog.with(rows), check.with(rows)]
    }

    fn wal_db(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
        let path = dir.path().join("app.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
        (path, conn)
    }

    #[test]
    fn the_catalog_and_the_check_read_the_pinned_point_in_time_beside_the_image() {
        let dir = tempfile::tempdir().unwrap();
        // Kept open, as an application keeps it, so the WAL and its frames stay.
        let (path, writer) = wal_db(&dir);

        let pinned = PinnedRead::begin(&path, &|| false).unwrap();
        // Regression: snapshot_open refused connections that had never read, so the catalog
        // always waited for the image on the image's connection.
        assert!(!pinned.shared, "the catalog reads on a connection of its own");
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(rows_seen(&pinned), [1, 1, 1], "all see the pinned point in time");
        assert_eq!(rows(&open_read_only(&path).unwrap()), 2);
    }

    #[test]
    fn a_wal_without_frames_is_read_beside_the_image_too() {
        let dir = tempfile::tempdir().unwrap();
        // Written and closed: the last connection checkpoints and removes the WAL.
        let (path, _) = wal_db(&dir);
        assert!(!dir.path().join("app.db-wal").exists());

        let pinned = PinnedRead::begin(&path, &|| false).unwrap();
        assert!(!pinned.shared, "the catalog reads on a connection of its own");
        let writer = Connection::open(&path).unwrap();
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(rows_seen(&pinned), [1, 1, 1], "all see the pinned point in time");
        // A checkpoint cannot write the new row into the file under the pinned readers.
        writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
        assert_eq!(rows_seen(&pinned), [1, 1, 1]);
    }

    #[test]
    fn a_second_reader_that_sees_a_newer_commit_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = wal_db(&dir);
        let first = open_read_only(&path).unwrap();
        begin_read(&first).unwrap();
        assert!(Snapshot::of(&first).is_none(), "no frames yet");
        Connection::open(&path).unwrap().execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert!(open_on_same_snapshot(&path, &first).is_err(), "the second reader would see the new row");
    }
}
