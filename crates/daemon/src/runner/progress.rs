//! A running job's progress, for any number of watchers at once: the terminal's bar, the
//! daemon's event stream, later the API's server-sent events. The engine adds the bytes it
//! handles to one counter (hot path: an atomic add, no lock, no wake-up); what a watcher waits
//! for is a change of state (started, ended), and between those it reads the counter at the
//! pace it wants, so a slow watcher never slows the job and a fast job never floods a watcher.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;

/// One job's progress, shared by the job and its watchers.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes read or written so far, as the repository counts them.
    bytes: Arc<AtomicU64>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default, Clone)]
struct State {
    /// Bytes the job expects to handle, when that is known up front (a database's size).
    total: Option<u64>,
    /// `None` while running; how it ended once it has.
    ended: Option<&'static str>,
    /// Bumped on every change a watcher waits for.
    version: u64,
}

/// What a watcher sees: where the job is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ProgressEvent {
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    /// `running`, or how the job ended (`ok`, `failed`, `interrupted`, `skipped`).
    pub status: &'static str,
}

impl Progress {
    pub(crate) fn new(total: Option<u64>) -> Self {
        Self { state: Mutex::new(State { total, ..State::default() }), ..Self::default() }
    }

    /// The counter the repository handle adds to.
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Records that the job ended with `status` and wakes every watcher.
    pub(crate) fn end(&self, status: &'static str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.ended = Some(status);
        state.version += 1;
        self.changed.notify_all();
    }

    /// Where the job is now.
    pub fn now(&self) -> ProgressEvent {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.event(&state)
    }

    fn event(&self, state: &State) -> ProgressEvent {
        ProgressEvent { bytes: self.bytes.load(Ordering::Relaxed), total_bytes: state.total, status: state.ended.unwrap_or("running") }
    }
}

/// One watcher of one job: [`Watcher::next`] until it returns `None`.
#[derive(Debug)]
pub struct Watcher {
    progress: Arc<Progress>,
    /// The state version this watcher has seen; `None` once it has seen the end.
    seen: Option<u64>,
}

impl Watcher {
    pub(crate) fn new(progress: Arc<Progress>) -> Self {
        Self { progress, seen: Some(0) }
    }

    /// The job's progress after at most `every` (at once when its state changes), the end
    /// once, then `None`.
    pub fn next(&mut self, every: Duration) -> Option<ProgressEvent> {
        let seen = self.seen?;
        let state = self.progress.state.lock().unwrap_or_else(|p| p.into_inner());
        let (state, _) = self
            .progress
            .changed
            .wait_timeout_while(state, every, |s| s.version == seen && s.ended.is_none())
            .unwrap_or_else(|p| p.into_inner());
        self.seen = if state.ended.is_some() { None } else { Some(state.version) };
        Some(self.progress.event(&state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two watchers of one job each see its bytes grow and its end once, then nothing; the
    /// end reaches them at once, not after their polling interval.
    #[test]
    fn every_watcher_sees_the_bytes_and_the_end_once() {
        let progress = Arc::new(Progress::new(Some(100)));
        let (mut a, mut b) = (Watcher::new(progress.clone()), Watcher::new(progress.clone()));
        progress.counter().fetch_add(40, Ordering::Relaxed);
        let seen = a.next(Duration::from_millis(1)).unwrap();
        assert_eq!(seen, ProgressEvent { bytes: 40, total_bytes: Some(100), status: "running" });
        let ender = {
            let progress = progress.clone();
            std::thread::spawn(move || {
                progress.counter().fetch_add(60, Ordering::Relaxed);
                progress.end("ok");
            })
        };
        let started = std::time::Instant::now();
        let mut last = a.next(Duration::from_secs(60)).unwrap();
        while last.status == "running" {
            last = a.next(Duration::from_secs(60)).unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the end woke the watcher");
        ender.join().unwrap();
        assert_eq!(last, ProgressEvent { bytes: 100, total_bytes: Some(100), status: "ok" });
        assert_eq!(a.next(Duration::from_millis(1)), None);
        assert_eq!(b.next(Duration::from_secs(60)).map(|e| e.status), Some("ok"));
        assert_eq!(b.next(Duration::from_millis(1)), None);
    }
}
