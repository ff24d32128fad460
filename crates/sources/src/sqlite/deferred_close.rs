//! Opening a database file behind SQLite's back without dropping SQLite's locks.
//!
//! SQLite locks database files with POSIX advisory locks, and POSIX drops *every* lock a
//! process holds on a file when the process closes *any* descriptor of that file. So a plain
//! `File::open` + drop of a database (to read its header, to copy its raw bytes) while one of
//! our own connections holds its write lock, as a restore does from the safety copy to the
//! swap, would silently let other processes write under our feet. SQLite's own VFS avoids it by
//! deferring closes while locks are held; this module does the same for lifeboat's own files:
//! [`open`] returns a file whose descriptor is kept open, once dropped, for as long as any
//! [`LockScope`] of this process is alive, and closed when the last scope ends.

use std::{
    fs::File,
    io::{self, Read},
    ops::{Deref, DerefMut},
    path::Path,
    sync::Mutex,
};

/// Locks held by this process's restores, and the files whose closing waits for them.
struct Held {
    scopes: usize,
    files: Vec<File>,
}

static HELD: Mutex<Held> = Mutex::new(Held { scopes: 0, files: Vec::new() });

/// A file opened for reading whose descriptor is closed only when no [`LockScope`] is alive.
pub(crate) struct DeferredFile(Option<File>);

/// Opens `path` for reading (see the module's documentation).
pub(crate) fn open(path: &Path) -> io::Result<DeferredFile> {
    File::open(path).map(|f| DeferredFile(Some(f)))
}

impl Deref for DeferredFile {
    type Target = File;
    fn deref(&self) -> &File {
        self.0.as_ref().expect("open until dropped")
    }
}

impl DerefMut for DeferredFile {
    fn deref_mut(&mut self) -> &mut File {
        self.0.as_mut().expect("open until dropped")
    }
}

impl Read for DeferredFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read(buf)
    }
}

impl Drop for DeferredFile {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if held.scopes > 0
            && let Some(file) = self.0.take()
        {
            held.files.push(file);
        }
    }
}

/// While alive, files from [`open`] are not closed: held by code that holds SQLite locks.
pub(crate) struct LockScope(());

impl LockScope {
    pub(crate) fn enter() -> Self {
        HELD.lock().unwrap_or_else(|e| e.into_inner()).scopes += 1;
        LockScope(())
    }
}

impl Drop for LockScope {
    fn drop(&mut self) {
        let files = {
            let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            held.scopes -= 1;
            if held.scopes == 0 { std::mem::take(&mut held.files) } else { Vec::new() }
        };
        drop(files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether another process could lock SQLite's shared-lock bytes of `path` now, which an
    /// exclusive SQLite lock covers (POSIX reports only *other* processes' locks, so a child
    /// asks).
    fn lockable_by_another_process(path: &Path) -> bool {
        let script =
            format!("import fcntl; f=open('{}','r+b'); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)", path.display());
        std::process::Command::new("/usr/bin/python3").args(["-c", &script]).status().unwrap().success()
    }

    #[test]
    fn a_raw_read_during_a_lock_scope_keeps_sqlites_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=delete; CREATE TABLE t(x); BEGIN EXCLUSIVE;").unwrap();
        assert!(!lockable_by_another_process(&path), "SQLite holds its lock");
        {
            let _scope = LockScope::enter();
            let mut header = [0u8; 16];
            open(&path).unwrap().read_exact(&mut header).unwrap();
            assert!(!lockable_by_another_process(&path), "the lock survived the raw read");
        }
        conn.execute_batch("COMMIT").unwrap();
        // The control: without a scope, a plain close drops the lock (POSIX), which is why.
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        drop(File::open(&path).unwrap());
        assert!(lockable_by_another_process(&path), "POSIX dropped SQLite's lock on close");
        conn.execute_batch("COMMIT").unwrap();
    }
}
