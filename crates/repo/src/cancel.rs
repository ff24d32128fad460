//! Cooperative cancellation, per job.
//!
//! Each job (a backup, a restore, a drill, a check, a prune) carries its own [`CancelToken`]:
//! the CLI cancels its one job on Ctrl-C, a daemon cancels one job of several without touching
//! the others. Long loops that read or write data check the token and stop with [`error`], so
//! every layer unwinds through its normal error path: a backup writes no snapshot, a restore
//! removes its half-written copy.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Asks one job to stop; cheap to clone, every clone sees the same request.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Asks everything under way in this job to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The error a stream or writer returns once its job was asked to stop.
///
/// Deliberately not `io::ErrorKind::Interrupted`: by std's convention that kind means "try
/// again", and read and write loops would retry forever.
pub fn error() -> std::io::Error {
    std::io::Error::other("interrupted by the user")
}
