//! Progress bars with rate and ETA, on a terminal only.

use std::{
    io::IsTerminal,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};

/// A bar fed by a byte counter the engine increments; drawn from its own thread.
pub struct Progress {
    pub counter: Option<Arc<AtomicU64>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts a bar when stdout is a terminal and output is not JSON; otherwise does nothing.
    pub fn start(label: &str, total: Option<u64>, json: bool) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        if json || !std::io::stdout().is_terminal() {
            return Self { counter: None, done, thread: None };
        }
        let counter = Arc::new(AtomicU64::new(0));
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner()
                .with_style(ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}").expect("template")),
        };
        bar.set_message(label.to_string());
        let (c, d) = (counter.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                bar.set_position(c.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Self { counter: Some(counter), done, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
