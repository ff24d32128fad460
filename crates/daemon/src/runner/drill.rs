//! A restore drill: a backup restored into a scratch place and compared with its manifest.

use lifeboat_engine::{BackupEntry, DrillPlace, VerifyReport};
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, Outcome};

/// Drills one backup.
#[derive(Serialize)]
pub struct DrillJob<'a> {
    database: String,
    /// The snapshot named, or `None` for the database's newest at the time the job runs.
    snapshot: Option<String>,
    jobs: Option<usize>,
    /// A scheduled drill runs at low priority, skips a database with no backup yet, and is
    /// covered by a passed drill of the very same content.
    scheduled: bool,
    /// Where it restores to; never logged (a scratch URL may carry credentials).
    #[serde(skip)]
    place: DrillPlace<'a>,
    #[serde(skip)]
    entry: Option<BackupEntry>,
    /// The snapshot it drills, once known: a drill that fails is logged against it.
    #[serde(skip)]
    drilling: Option<String>,
}

/// What a drill found.
#[derive(Debug)]
pub enum DrillReport {
    /// It ran: what it found.
    Drilled(VerifyReport),
    /// A passed drill of another snapshot proved the same content (a scheduled drill only).
    Covered { snapshot: BackupEntry, rows: u64, content_key: String, by: String },
    /// The database has no backup to drill yet (a scheduled drill only): why.
    NothingToDrill(String),
}

impl<'a> DrillJob<'a> {
    /// A drill of `entry` into `place`, loading with `jobs` sessions.
    pub fn of(entry: &BackupEntry, place: DrillPlace<'a>, jobs: Option<usize>) -> Self {
        Self {
            database: entry.summary.database.clone(),
            snapshot: Some(entry.id.clone()),
            jobs,
            scheduled: false,
            place,
            entry: Some(entry.clone()),
            drilling: None,
        }
    }

    /// The daemon's drill of `database`'s backup `snapshot` (the one a backup just wrote), or
    /// of its newest when `None`.
    pub fn scheduled(database: &str, snapshot: Option<&str>, place: DrillPlace<'a>) -> Self {
        Self {
            database: database.into(),
            snapshot: snapshot.map(str::to_string),
            jobs: None,
            scheduled: true,
            place,
            entry: None,
            drilling: None,
        }
    }
}

impl Job for DrillJob<'_> {
    type Report = DrillReport;

    fn kind(&self) -> JobKind {
        JobKind::Drill
    }

    fn database(&self) -> Option<&str> {
        Some(&self.database)
    }

    fn run(&mut self, scope: &Scope) -> Result<DrillReport, JobError> {
        let entry = match self.entry.take() {
            Some(entry) => entry,
            None => {
                // It must not slow the application or the next backup.
                lifeboat_engine::lower_this_thread();
                match lifeboat_engine::resolve(scope.repo, self.snapshot.as_deref().unwrap_or("latest"), Some(&self.database)) {
                    Ok(entry) => entry,
                    Err(err) => return Ok(DrillReport::NothingToDrill(format!("nothing to drill: {err}"))),
                }
            }
        };
        self.drilling = Some(entry.id.clone());
        if self.scheduled {
            let (key, rows) = lifeboat_engine::content_key(scope.repo, &entry)?;
            if let Some(by) = scope.log.and_then(|log| log.drill_proving(&key).ok().flatten()) {
                return Ok(DrillReport::Covered { snapshot: entry, rows, content_key: key, by });
            }
        }
        Ok(DrillReport::Drilled(lifeboat_engine::verify(scope.repo, &entry, self.place, self.jobs)?))
    }

    fn outcome(&self, report: &DrillReport) -> Outcome {
        match report {
            DrillReport::Drilled(report) => Outcome::of_drill(report),
            DrillReport::Covered { snapshot, rows, content_key, by } => Outcome {
                status: "ok",
                snapshot: Some(snapshot.id.clone()),
                rows: Some(*rows),
                content_key: Some(content_key.clone()),
                covered_by: Some(by.clone()),
                ..Default::default()
            },
            DrillReport::NothingToDrill(why) => Outcome { status: "skipped", error: Some(why.clone()), ..Default::default() },
        }
    }

    fn failure(&self, err: &JobError) -> Outcome {
        Outcome { snapshot: self.drilling.clone(), ..Outcome::failed(err) }
    }
}
