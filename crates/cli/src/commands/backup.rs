use anyhow::Result;
use lifeboat_daemon::runner::BackupJob;
use lifeboat_engine::{BackupRequest, CaptureOptions, IntegrityLevel};

use crate::{
    context,
    flags::{BackupArgs, Global, Integrity},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &BackupArgs) -> Result<i32> {
    // With --config, a database's name there stands for its URL, so that a URL with a
    // password in it stays in the file and off command lines (and out of shell history).
    let configured = context::config(global)?.and_then(|c| c.database(&args.database).cloned());
    let (url, name) = match &configured {
        Some(db) => (db.url.expose(), args.name.clone().or_else(|| Some(db.name.clone()))),
        None => (args.database.as_str(), args.name.clone()),
    };
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
    let request = BackupRequest {
        name,
        class: args.class.clone(),
        also_classes: Vec::new(),
        reason: args.reason.clone(),
        tags: args.tags.clone(),
        source_label: String::new(),
    };
    let mut job = BackupJob::new(lifeboat_engine::open_database(url), request, options);
    let repo = context::open(global)?;
    let report = Jobs::new(global)?.run(&repo, &mut job, args.reason.as_deref(), Some("backing up"))?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let e = &report.entry;
    if global.json {
        output::json(&lifeboat_daemon::output::Backup {
            snapshot: e,
            tables: report.manifest.catalog.tables.len(),
            streams: &report.manifest.streams,
            warnings: &report.warnings,
        })?;
    } else {
        println!(
            "snapshot {} saved: {} `{}`, {}, {}; database {}, streams {}, {} added to the repository",
            e.short_id,
            e.summary.engine,
            e.summary.database,
            output::count(report.manifest.catalog.tables.len() as u64, "table"),
            output::count(e.summary.rows, "row"),
            e.summary.database_bytes.map_or("size unknown".into(), output::size),
            output::size(e.summary.bytes),
            output::size(e.added_bytes)
        );
    }
    Ok(0)
}
