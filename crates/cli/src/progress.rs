//! Progress bars with rate and ETA, on a terminal only: a bar is one more watcher of a job's
//! progress, drawn from its own thread until the job ends.

use std::{
    io::IsTerminal,
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};
use lifeboat_daemon::runner::{LiveJob, Watcher};

/// The bars of the jobs a runner starts.
#[derive(Clone, Default)]
pub struct Bars {
    /// Whether bars are drawn at all (a terminal, no JSON).
    shown: bool,
    /// The label of the next job's bar; `None`: that job draws none.
    next: Arc<Mutex<Option<&'static str>>>,
    drawing: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Bars {
    /// Bars on stdout's terminal, unless the output is JSON.
    pub fn new(json: bool) -> Self {
        Self { shown: !json && std::io::stdout().is_terminal(), ..Self::default() }
    }

    /// The next job draws a bar labelled `label` (`None`: no bar, e.g. while it asks a
    /// question a bar would draw over).
    pub fn label_next(&self, label: Option<&'static str>) {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = label;
    }

    /// Starts the bar of `job`, if it gets one.
    pub fn start(&self, job: &LiveJob) {
        let label = self.next.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let (true, Some(label)) = (self.shown, label) {
            let drawing = std::thread::spawn({
                let watcher = job.watch();
                move || draw(label, watcher)
            });
            self.drawing.lock().unwrap_or_else(|p| p.into_inner()).push(drawing);
        }
    }

    /// Waits until every bar has cleared itself (its job has ended), so that what is printed
    /// next is not drawn over.
    pub fn finish(&self) {
        for drawing in self.drawing.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = drawing.join();
        }
    }
}

fn draw(label: &str, mut watcher: Watcher) {
    let Some(first) = watcher.next(Duration::ZERO) else { return };
    let bar = match first.total_bytes {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}").expect("template")),
    };
    bar.set_message(label.to_string());
    bar.set_position(first.bytes);
    while let Some(now) = watcher.next(Duration::from_millis(100)) {
        bar.set_position(now.bytes);
    }
    bar.finish_and_clear();
}
