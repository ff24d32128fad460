//! One daemon per state directory.
//!
//! Two daemons on one state directory would both run every schedule: double backups, double
//! alerts. The daemon holds an exclusive `flock` on `daemon.lock` in the state directory for as
//! long as it runs. The kernel releases it when the process ends however it ends (kill -9, a
//! power cut), so a lock left by a dead daemon is simply taken over: nothing to clean up. The
//! file says who holds it (pid, since when) for the second daemon's error.

use std::{
    fs::File,
    io::{Read, Seek, Write},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    path::Path,
};

use crate::error::{DaemonError, DaemonErrorKind, Result};

/// Held while this daemon runs; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the state directory `dir` for this daemon, or says which daemon has it.
    ///
    /// Errors: [`DaemonErrorKind::AlreadyRunning`] naming the other daemon's pid and start.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join("daemon.lock");
        let unusable = |e: std::io::Error| {
            DaemonError::new(DaemonErrorKind::State, format!("cannot use {}", path.display()), "check the state directory's permissions")
                .with_source(e)
        };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path).map_err(unusable)?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(unusable(err));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            return Err(DaemonError::new(
                DaemonErrorKind::AlreadyRunning,
                format!("another lifeboat daemon already runs on state directory {} ({holder})", dir.display()),
                "stop it first (systemctl stop lifeboat), or give this one its own [state] dir; nothing was started",
            ));
        }
        let started = jiff::Timestamp::now();
        file.set_len(0).and_then(|()| file.rewind()).map_err(unusable)?;
        writeln!(file, "pid {}\nsince {started}", std::process::id()).and_then(|()| file.sync_all()).map_err(unusable)?;
        Ok(Self { _file: file })
    }
}
