//! The repository's backups, listed once and kept: 50 dashboards polling must not make 50
//! listings a second. A listing is read again when a job of this daemon has ended since
//! (its backups, forgets and prunes change it), and at least every minute for the writers
//! this daemon does not see (a `lifeboat backup` from cron, another host).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lifeboat_engine::{BackupEntry, EngineError, Repo};

/// A listing older than this is read again.
const REFRESH: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct SnapshotCache {
    held: Mutex<Option<Held>>,
}

struct Held {
    at: Instant,
    /// The daemon's count of ended jobs when it was read.
    ended: u64,
    entries: Arc<Vec<BackupEntry>>,
}

impl SnapshotCache {
    /// Every backup of `repo` with its totals (as `lifeboat snapshots` lists them), read again only when `ended` (the daemon's count of ended jobs)
    /// moved or the listing is a minute old. Callers that find it stale wait for one reading.
    pub fn entries(&self, repo: &Repo, ended: u64) -> Result<Arc<Vec<BackupEntry>>, EngineError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.as_ref().filter(|h| h.ended == ended && h.at.elapsed() < REFRESH) {
            return Ok(h.entries.clone());
        }
        let entries = Arc::new(lifeboat_engine::list_with_totals(repo, None)?);
        *held = Some(Held { at: Instant::now(), ended, entries: entries.clone() });
        Ok(entries)
    }
}
