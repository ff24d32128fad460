//! How long the job log keeps a job (`[state] keep_jobs`, default 400 days).
//!
//! A job that ended well is history; one that failed, was interrupted, restored something, or
//! is a drill's verdict is evidence someone may look for after an incident, so it is kept
//! twice as long. Never removed, whatever their age: a job still running, and the newest job
//! of each database, kind and repository (health and metrics read "the last backup", "the last
//! check"). What goes with an old drill is only a note: a restore of a backup whose drill was
//! forgotten says no drill stands behind it, and checks it as any other.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rusqlite::params;

use super::JobLog;
use crate::error::{DaemonError, Result};

/// The default of `[state] keep_jobs`.
pub const DEFAULT_KEEP_JOBS: Duration = Duration::from_secs(400 * 86_400);

impl JobLog {
    /// Removes the jobs older than `keep` (failures, interruptions, restores and drills: older
    /// than twice `keep`) that nothing above protects; returns how many.
    pub fn apply_retention(&self, keep: Duration, now: Timestamp) -> Result<usize> {
        let before = |factor: u32| {
            let age = SignedDuration::try_from(keep.saturating_mul(factor)).unwrap_or(SignedDuration::MAX);
            now.checked_sub(age).unwrap_or(Timestamp::MIN).to_string()
        };
        self.conn
            .execute(
                "DELETE FROM jobs
                 WHERE finished_at IS NOT NULL AND status <> 'running'
                   AND ((started_at < ?1 AND status IN ('ok', 'skipped') AND kind NOT IN ('restore', 'drill')) OR started_at < ?2)
                   AND id NOT IN (SELECT max(id) FROM jobs GROUP BY database, kind, repository)",
                params![before(1), before(2)],
            )
            .map_err(|e| DaemonError::state("removing old jobs from the job log", e))
    }
}
