//! How a front door (the HTTP API) reaches the daemon without the daemon knowing HTTP: the
//! daemon opens it once it holds its state directory, hands it a [`Submitter`] for the jobs
//! people ask for, and closes it before it exits. A submitted job is queued like a scheduled
//! one (one job per database at a time, at most `concurrent_jobs` in all), so a backup asked
//! for over HTTP never runs beside a scheduled backup of the same database.

use std::sync::{Arc, mpsc};

use lifeboat_engine::Repo;

use crate::{error::Result, runner::Runner};

/// A manual job asked for through a front door.
#[derive(Debug, Clone)]
pub struct Submission {
    pub database: String,
    pub asked: Asked,
    pub reason: Option<String>,
    /// The token or user it runs for.
    pub actor: String,
}

/// What a submission asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A backup carrying this class (`manual` unless asked otherwise).
    Backup { class: String },
    /// A restore drill of the database's newest backup.
    Drill,
}

/// Hands submissions to the daemon's loop.
#[derive(Clone)]
pub struct Submitter(pub(crate) mpsc::Sender<crate::daemon::Message>);

impl Submitter {
    /// Queues the job; `false` when the daemon is gone (stopping).
    pub fn submit(&self, submission: Submission) -> bool {
        self.0.send(crate::daemon::Message::Submitted(submission)).is_ok()
    }
}

/// What the daemon hands its front door.
pub struct Door {
    /// Queues jobs in this daemon.
    pub submit: Submitter,
    /// The primary repository, opened (each use takes a handle of its own).
    pub repo: Repo,
    /// The daemon's runner: the jobs running now, and a count of the jobs that ended (a
    /// listing cached before a job ended may be out of date).
    pub runner: Arc<Runner>,
    /// The latest health report, for `/metrics`.
    pub health: crate::metrics::SharedHealth,
}

/// A front door the daemon opens and closes.
pub trait FrontDoor {
    /// Starts serving (on threads of its own).
    fn open(&mut self, door: Door) -> Result<()>;

    /// Stops serving: what is under way is finished, nothing new is taken.
    fn close(&mut self);
}
