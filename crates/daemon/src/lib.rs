//! lifeboat on its own: the configuration file, cron schedules, the job log, health, and the
//! daemon that runs backups, drills, checks, retention and prunes on schedule. It composes the
//! engine's operations; like the engine it prints nothing but its own event lines.

pub mod access;
mod alerts;
mod config;
mod config_check;
mod cron;
mod daemon;
mod error;
mod events;
mod front_door;
mod health;
mod instance;
mod joblog;
mod jobs;
pub mod metrics;
pub mod output;
mod repos;
pub mod runner;
mod stats;

pub use alerts::{Alert, AlertsConfig, send as send_alert, test_alert};
pub use config::{AFTER_EACH_BACKUP, ApiConfig, Config, DatabaseConfig, DrillWhen, SCHEDULED_CLASSES, interval};
pub use config_check::Review;
pub use cron::Cron;
pub use daemon::run;
pub use error::{DaemonError, DaemonErrorKind, Result};
pub use events::Events;
pub use front_door::{Asked, Door, FrontDoor, Submission, Submitter};
pub use health::{DatabaseHealth, Finding, HealthReport, Level, RepositoryHealth, evaluate as evaluate_health, human};
pub use instance::InstanceLock;
pub use joblog::{BackupTotals, DrillRecord, Filter, JobKind, JobLog, JobRecord, NewJob, Outcome, RecordedJob, Trigger};
pub use jobs::Work;
pub use repos::{Repos, Target};
pub use runner::{Runner, Start};
pub use stats::{Stats, StatsReport, stats};
