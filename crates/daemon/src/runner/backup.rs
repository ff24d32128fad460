//! A backup: one database, captured consistently, stored as one snapshot.

use lifeboat_engine::{BackupReport, BackupRequest, CaptureOptions, Database, Source, SourceError};
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, Outcome};

/// Backs up one database.
#[derive(Serialize)]
pub struct BackupJob {
    /// Its name in the repository (the request's, else the source's own).
    database: String,
    request: BackupRequest,
    options: CaptureOptions,
    /// Every class it carries.
    #[serde(skip)]
    classes: Vec<String>,
    /// Its size, for progress.
    #[serde(skip)]
    size: Option<u64>,
    /// The source, opened when the job was made; an error is the job's to report.
    #[serde(skip)]
    source: Option<Result<Box<dyn Source>, SourceError>>,
}

impl BackupJob {
    /// A backup of `database` (as opened from its URL: an error is the job's to report)
    /// labelled by `request`, capturing what `options` say. The request's `source_label` is
    /// filled in from the database.
    pub fn new(database: Result<Box<dyn Database>, SourceError>, mut request: BackupRequest, options: CaptureOptions) -> Self {
        let size = database.as_ref().ok().and_then(|d| d.size());
        let source = database.and_then(|database| {
            request.source_label = database.label();
            database.source(&options)
        });
        let name = match (&request.name, &source) {
            (Some(name), _) => name.clone(),
            (None, Ok(source)) => source.name().to_string(),
            (None, Err(_)) => request.source_label.clone(),
        };
        // Shortest-lived first, as the schedule names them (`hourly,daily`), whichever labels it.
        let mut classes: Vec<String> = std::iter::once(&request.class).chain(&request.also_classes).cloned().collect();
        classes.sort_by_key(|c| lifeboat_engine::CLASSES.iter().position(|known| known == c).unwrap_or(usize::MAX));
        Self { database: name, classes, request, options, size, source: Some(source) }
    }
}

impl Job for BackupJob {
    type Report = BackupReport;

    fn kind(&self) -> JobKind {
        JobKind::Backup
    }

    fn database(&self) -> Option<&str> {
        Some(&self.database)
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn expected_bytes(&self) -> Option<u64> {
        self.size
    }

    fn run(&mut self, scope: &Scope) -> Result<BackupReport, JobError> {
        let source = self.source.take().expect("a job runs once")?;
        Ok(lifeboat_engine::backup(scope.repo, source.as_ref(), &self.request)?)
    }

    fn outcome(&self, report: &BackupReport) -> Outcome {
        Outcome::of_backup(report)
    }

    fn left_behind(&self) -> &'static str {
        "no snapshot was written"
    }
}
