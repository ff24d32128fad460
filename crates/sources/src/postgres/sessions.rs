//! How many sessions a backup reads the database with at once (`--jobs`).
//!
//! rustic's archiver reads one stream per worker thread (one per core), so a backup opens as
//! many COPY sessions as there are cores. On a busy production server a user may want fewer:
//! each stream takes a permit before it connects and gives it back at its end, so at most
//! `jobs` sessions read at a time. The other workers wait for a permit; they hold nothing the
//! reading sessions need, so the wait ends when a stream does.

use std::{
    io::{self, Read},
    sync::{Arc, Condvar, Mutex},
};

/// Permits for reading sessions.
pub(crate) struct SessionLimit {
    free: Mutex<usize>,
    freed: Condvar,
}

impl SessionLimit {
    pub(crate) fn new(jobs: usize) -> Arc<Self> {
        Arc::new(Self { free: Mutex::new(jobs.max(1)), freed: Condvar::new() })
    }

    /// Waits for a free permit.
    pub(crate) fn acquire(self: &Arc<Self>) -> Permit {
        let mut free = self.free.lock().expect("session limit lock");
        while *free == 0 {
            free = self.freed.wait(free).expect("session limit lock");
        }
        *free -= 1;
        Permit(Arc::clone(self))
    }
}

/// One session's permit; given back when dropped.
pub(crate) struct Permit(Arc<SessionLimit>);

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().expect("session limit lock") += 1;
        self.0.freed.notify_one();
    }
}

/// A stream that gives its permit back at its end (or when dropped half-way).
pub(crate) struct Limited<R> {
    inner: R,
    permit: Option<Permit>,
}

impl<R> Limited<R> {
    pub(crate) fn new(inner: R, permit: Permit) -> Self {
        Self { inner, permit: Some(permit) }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.permit = None;
        }
        Ok(n)
    }
}
