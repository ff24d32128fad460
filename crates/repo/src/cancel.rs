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

/// Asks one job to stop; cheap to clone, every clone sees the same request. A job of a process
/// that runs several gets a [`CancelToken::child`] of the process's token: cancelling the
/// process stops every job, cancelling the job stops it alone.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    parent: Option<CancelToken>,
}

impl CancelToken {
    /// A token for one job under this one: cancelled with it, or on its own.
    pub fn child(&self) -> Self {
        Self(Arc::new(Inner { cancelled: AtomicBool::new(false), parent: Some(self.clone()) }))
    }

    /// Asks everything under way in this job (and in its children) to stop at its next check.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether the job, or one it belongs to, was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst) || self.0.parent.as_ref().is_some_and(CancelToken::is_cancelled)
    }
}

/// The error a stream or writer returns once its job was asked to stop.
///
/// Deliberately not `io::ErrorKind::Interrupted`: by std's convention that kind means "try
/// again", and read and write loops would retry forever.
pub fn error() -> std::io::Error {
    std::io::Error::other("interrupted by the user")
}

#[cfg(test)]
mod tests {
    use super::CancelToken;

    #[test]
    fn a_job_cancelled_alone_leaves_its_siblings_and_the_process_running() {
        let process = CancelToken::default();
        let (one, other) = (process.child(), process.child());
        one.cancel();
        assert!(one.is_cancelled() && one.clone().is_cancelled());
        assert!(!other.is_cancelled() && !process.is_cancelled());
        let grandchild = other.child();
        process.cancel();
        assert!(other.is_cancelled() && grandchild.is_cancelled(), "the process's cancel reaches every job");
    }
}
