//! Cooperative cancellation (Ctrl-C).
//!
//! The CLI's signal handler sets one process-wide flag; long loops that read or write data
//! check it and stop with [`error`], so every layer unwinds through its normal
//! error path: a backup writes no snapshot, a restore removes its half-written copy.

use std::sync::atomic::{AtomicBool, Ordering};

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Asks everything under way to stop at its next check.
pub fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Whether the user asked to stop.
pub fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// The error a stream or writer returns once the user asked to stop.
///
/// Deliberately not `io::ErrorKind::Interrupted`: by std's convention that kind means "try
/// again", and read and write loops would retry forever.
pub fn error() -> std::io::Error {
    std::io::Error::other("interrupted by the user")
}
