//! rustic's progress reports, counted into the job's progress counter: the bytes a backup
//! reads, a check reads back (`--read-data`) and a prune repacks. rustic's other reports
//! (counters of files, spinners) stay hidden: a job's progress is bytes.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use rustic_core::{Progress, ProgressBars, ProgressType, RusticProgress};

/// Hands rustic a progress that adds to `counter` for every byte report, hidden ones else.
#[derive(Debug, Clone)]
pub(crate) struct JobProgress(pub(crate) Option<Arc<AtomicU64>>);

impl ProgressBars for JobProgress {
    fn progress(&self, kind: ProgressType, _prefix: &str) -> Progress {
        match (&self.0, kind) {
            (Some(counter), ProgressType::Bytes) => Progress::new(Counted(counter.clone())),
            _ => Progress::hidden(),
        }
    }
}

#[derive(Debug)]
struct Counted(Arc<AtomicU64>);

impl RusticProgress for Counted {
    fn is_hidden(&self) -> bool {
        false
    }

    fn set_length(&self, _len: u64) {}

    fn set_title(&self, _title: &str) {}

    fn inc(&self, inc: u64) {
        self.0.fetch_add(inc, Ordering::Relaxed);
    }

    fn finish(&self) {}
}
