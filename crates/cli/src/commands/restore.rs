use anyhow::Result;
use lifeboat_daemon::runner::RestoreJob;
use lifeboat_engine::{EngineRestoreOptions, RestoreCheck, RestoreOptions, RestorePlan};

use crate::{
    commands::confirm,
    context,
    flags::{Check, Global, RestoreArgs},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &RestoreArgs) -> Result<i32> {
    let target = lifeboat_engine::open_database(&args.to)?;
    let repo = context::open(global)?;
    let entry = lifeboat_engine::resolve_for_restore(&repo, &args.snapshot, args.db.as_deref(), target.as_ref())?;
    let yes = args.yes;
    let ask = move |plan: &RestorePlan| {
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
        drill: None,
    };
    let mut job = RestoreJob::new(&entry, target.as_ref(), options, Box::new(ask));
    // No bar: it would draw over the question.
    let report = Jobs::new(global)?.run(&repo, &mut job, None, None)?;
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
