//! Cooperative cancellation (Ctrl-C).
//!
//! The CLI's signal handler sets one process-wide flag; long loops that read or write data
//! check it and stop with an `Interrupted` error, so every layer unwinds through its normal
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
