//! An export: a backup as plain SQL that the engine's own shell loads without lifeboat.

use std::io::Write;

use lifeboat_engine::BackupEntry;
use serde::Serialize;

use super::{Job, JobError, Scope};
use crate::joblog::{JobKind, Outcome};

/// Writes the SQL of one backup to `out`.
#[derive(Serialize)]
pub struct ExportJob<'a> {
    database: String,
    snapshot: String,
    format: &'static str,
    #[serde(skip)]
    entry: BackupEntry,
    #[serde(skip)]
    out: &'a mut dyn Write,
}

impl<'a> ExportJob<'a> {
    pub fn sql(entry: &BackupEntry, out: &'a mut dyn Write) -> Self {
        Self { database: entry.summary.database.clone(), snapshot: entry.id.clone(), format: "sql", entry: entry.clone(), out }
    }
}

impl Job for ExportJob<'_> {
    type Report = ();

    fn kind(&self) -> JobKind {
        JobKind::Export
    }

    fn database(&self) -> Option<&str> {
        Some(&self.database)
    }

    fn run(&mut self, scope: &Scope) -> Result<(), JobError> {
        lifeboat_engine::export(scope.repo, &self.entry, self.out, None)?;
        Ok(self.out.flush()?)
    }

    fn outcome(&self, _: &()) -> Outcome {
        Outcome { status: "ok", snapshot: Some(self.snapshot.clone()), ..Default::default() }
    }
}
