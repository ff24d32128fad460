use anyhow::Result;
use lifeboat_engine::{BackupRequest, CaptureOptions, IntegrityLevel, backup};

use crate::{
    context,
    flags::{BackupArgs, Global, Integrity},
    output,
    progress::Progress,
};

pub fn run(global: &Global, args: &BackupArgs) -> Result<i32> {
    let database = lifeboat_engine::open_database(&args.database)?;
    lifeboat_engine::validate_class(&args.class)?;
    let options = CaptureOptions {
        schemas: args.schemas.clone(),
        tables: args.tables.clone(),
        exclude_tables: args.exclude_tables.clone(),
        globals: args.globals,
        jobs: args.jobs.map(|n| n as usize),
        integrity: args.integrity.map(|level| match level {
            Integrity::Off => IntegrityLevel::Off,
            Integrity::Quick => IntegrityLevel::Quick,
            Integrity::Full => IntegrityLevel::Full,
        }),
    };
    let source = database.source(&options)?;
    let progress = Progress::start("backing up", database.size(), global.json);
    let repo = context::open_with_progress(global, progress.counter.clone())?;
    let request = BackupRequest {
        name: args.name.clone(),
        class: args.class.clone(),
        reason: args.reason.clone(),
        tags: args.tags.clone(),
        source_label: database.label(),
    };
    let report = backup(&repo, source.as_ref(), &request)?;
    drop(progress);
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let e = &report.entry;
    if global.json {
        output::json(&serde_json::json!({
            "snapshot": e,
            "tables": report.manifest.catalog.tables.len(),
            "streams": report.manifest.streams,
        }))?;
    } else {
        println!(
            "snapshot {} saved: {} `{}`, {}, {}, {} read, {} added to the repository",
            e.short_id,
            e.summary.engine,
            e.summary.database,
            output::count(report.manifest.catalog.tables.len() as u64, "table"),
            output::count(e.summary.rows, "row"),
            output::size(e.summary.bytes),
            output::size(e.added_bytes)
        );
    }
    Ok(0)
}
