use anyhow::Result;
use lifeboat_engine::{BackupRequest, DatabaseSpec, Subset, backup};

use crate::{
    context,
    flags::{BackupArgs, Global},
    output,
    progress::Progress,
};

pub fn run(global: &Global, args: &BackupArgs) -> Result<i32> {
    let spec = DatabaseSpec::parse(&args.database)?;
    lifeboat_engine::validate_class(&args.class)?;
    let repo = context::open(global)?;
    let subset = Subset {
        schemas: args.schemas.clone(),
        tables: args.tables.clone(),
        exclude_tables: args.exclude_tables.clone(),
        globals: args.globals,
    };
    let source = spec.source(&subset, args.jobs.map(|n| n as usize))?;
    let progress = Progress::start("backing up", spec.size_hint(), global.json);
    let request = BackupRequest {
        name: args.name.clone(),
        class: args.class.clone(),
        reason: args.reason.clone(),
        tags: args.tags.clone(),
        source_label: spec.label(),
        progress: progress.counter.clone(),
    };
    let report = backup(&repo, source.as_ref(), &request)?;
    drop(progress);
    if let Some(problems) = report.manifest.catalog.properties.get("integrity_check").and_then(|v| v.as_array()) {
        let first: Vec<String> = problems.iter().take(3).map(|p| p.as_str().unwrap_or_default().to_string()).collect();
        eprintln!(
            "warning: the database failed PRAGMA integrity_check ({}); the backup keeps it exactly as it is.\n  hint: restore an earlier backup that passed, or repair it (sqlite3 .recover) and back up again",
            first.join("; ")
        );
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
            "snapshot {} saved: {} `{}`, {} tables, {} rows, {} read, {} added to the repository",
            e.short_id,
            e.summary.engine,
            e.summary.database,
            report.manifest.catalog.tables.len(),
            e.summary.rows,
            output::size(e.summary.bytes),
            output::size(e.added_bytes)
        );
    }
    Ok(0)
}
