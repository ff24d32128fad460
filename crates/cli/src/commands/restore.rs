use anyhow::Result;
use lifeboat_daemon::{JobLog, Outcome};
use lifeboat_engine::{BackupEntry, Drill, EngineRestoreOptions, RestoreCheck, RestoreOptions, RestorePlan};

use crate::{
    commands::confirm,
    context,
    flags::{Check, Global, RestoreArgs},
    logged, output,
};

pub fn run(global: &Global, args: &RestoreArgs) -> Result<i32> {
    let target = lifeboat_engine::open_database(&args.to)?;
    let repo = context::open(global)?;
    let entry = lifeboat_engine::resolve_for_restore(&repo, &args.snapshot, args.db.as_deref(), target.as_ref())?;
    let yes = args.yes;
    let mut ask = |plan: &RestorePlan| {
        if yes {
            return true;
        }
        let what = match &plan.table {
            Some(t) => format!("the rows of table `{t}` in {}", plan.target),
            None => match plan.existing_bytes {
                Some(bytes) => format!("{} ({})", plan.target, output::size(bytes)),
                None => plan.target.clone(),
            },
        };
        eprintln!(
            "This replaces {what}\nwith snapshot {} of `{}` taken {} ({}).\nA safety backup of the current data is taken first.",
            plan.snapshot.short_id,
            plan.snapshot.summary.database,
            output::time(plan.snapshot.time),
            output::count(plan.rows, "row")
        );
        confirm("Replace it?")
    };
    let options = RestoreOptions {
        table: args.table.clone(),
        accept_damaged: args.accept_damaged,
        engine: EngineRestoreOptions {
            table_as: args.table_as.clone(),
            terminate_connections: args.terminate_connections,
            globals: args.globals,
            jobs: args.jobs.map(|n| n as usize),
            check: match args.check {
                Check::Recorded => RestoreCheck::Recorded,
                Check::Full => RestoreCheck::Full,
            },
        },
        drill: newest_drill(global, &entry),
    };
    let job = logged::Job {
        database: Some(&entry.summary.database),
        repository: None,
        kind: lifeboat_daemon::JobKind::Restore,
        classes: &[],
        reason: None,
        repo: &repo,
    };
    let report = logged::run(
        global,
        job,
        || Ok(lifeboat_engine::restore(&repo, &entry, target.as_ref(), &options, &mut ask)?),
        |report| Outcome { status: "ok", snapshot: Some(entry.id.clone()), rows: Some(report.rows_restored), ..Default::default() },
    )?;
    if global.json {
        output::json(&report)?;
        return Ok(0);
    }
    if let Some(safety) = &report.safety_backup {
        println!(
            "safety backup {} of the previous data saved (restore it with `lifeboat restore {} --to {}`)",
            safety.short_id, safety.short_id, report.plan.target
        );
    }
    for note in report.safety_note.iter().chain(&report.notes) {
        println!("note: {note}");
    }
    match (&report.plan.table, &report.plan.table_as) {
        (Some(t), Some(new)) => println!(
            "restored table `{t}` as the new table `{new}` ({}) from snapshot {} into {}; `{t}` itself was not changed",
            output::count(report.rows_restored, "row"),
            entry.short_id,
            report.plan.target
        ),
        (Some(t), None) => {
            println!(
                "restored table `{t}` ({}) from snapshot {} into {}",
                output::count(report.rows_restored, "row"),
                entry.short_id,
                report.plan.target
            )
        }
        (None, _) => {
            println!(
                "restored snapshot {} into {} ({}, {}); what vouches for it:",
                entry.short_id,
                report.plan.target,
                output::count(report.check.tables.len() as u64, "table"),
                output::count(report.rows_restored, "row")
            );
            for line in &report.vouched_by {
                println!("  - {line}");
            }
        }
    }
    Ok(0)
}

/// The newest restore drill of `entry` in the job log that came to a verdict, when one is
/// configured, named for the report. Without one (or when it cannot be read) the restore
/// stands on the backup's own checks.
fn newest_drill(global: &Global, entry: &BackupEntry) -> Option<Drill> {
    let dir = context::state_dir(global).ok()??;
    let drill = JobLog::open(&dir).ok()?.newest_drill(&entry.id).ok()??;
    let name = match &drill.covered_by {
        Some(other) => format!(
            "the restore drill of snapshot {} (the same streams and row counts; found to cover this one {})",
            &other[..other.len().min(8)],
            output::time(drill.at)
        ),
        None => format!("the restore drill of {}", output::time(drill.at)),
    };
    Some(Drill { name, passed: drill.passed })
}
