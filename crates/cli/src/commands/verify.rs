use anyhow::Result;
use lifeboat_daemon::runner::{DrillJob, DrillReport};
use lifeboat_engine::{DrillPlace, VerifyReport};

use crate::{
    context,
    flags::{Global, VerifyArgs},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &VerifyArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entries = match &args.snapshot {
        Some(spec) => vec![lifeboat_engine::resolve(&repo, spec, args.db.as_deref())?],
        None => lifeboat_engine::newest_of_each_database(&repo, args.db.as_deref())?,
    };
    let jobs = Jobs::new(global)?;
    let mut reports = Vec::new();
    for entry in &entries {
        // A configured database's own URL carries the credentials a drill on its server needs.
        let configured = context::config(global)?.and_then(|c| c.database(&entry.summary.database).cloned());
        let place = DrillPlace { scratch: args.scratch.as_deref(), live: configured.as_ref().map(|db| db.url.expose()) };
        let mut job = DrillJob::of(entry, place, args.jobs.map(|n| n as usize));
        match jobs.run(&repo, &mut job, None, Some("restore drill"))? {
            DrillReport::Drilled(report) => reports.push(report),
            other => unreachable!("a drill of a named backup always runs: {other:?}"),
        }
    }
    let ok = reports.iter().all(VerifyReport::ok);
    if global.json {
        output::json(&lifeboat_daemon::output::Verify { ok, drills: &reports })?;
    } else {
        for report in &reports {
            print_report(report);
        }
        if args.all {
            let failed = reports.iter().filter(|r| !r.ok()).count();
            println!("verify --all: {} drilled, {} failed", output::count(reports.len() as u64, "database"), failed);
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn print_report(report: &VerifyReport) {
    let entry = &report.snapshot;
    println!(
        "restore drill of snapshot {} (`{}`, {}) in {:.1}s",
        entry.short_id,
        entry.summary.database,
        output::time(entry.time),
        report.seconds
    );
    match report.image_matches {
        Some(matches) => println!("  streams' sha256 match the manifest: {}", if matches { "yes" } else { "NO" }),
        None => println!("  streams' sha256: not checked (the drill could not run)"),
    }
    if let Some(check) = &report.check {
        println!(
            "  integrity check: {}",
            if check.integrity_problems.is_empty() { "ok".to_string() } else { check.integrity_problems.join("; ") }
        );
        for t in &check.tables {
            let rows = t.actual_rows.map_or("missing".to_string(), |r| r.to_string());
            let hash = match t.hash_matches {
                Some(true) => "hash ok",
                Some(false) => "HASH DIFFERS",
                None => "no hash",
            };
            println!("  {:<30} {:>12} / {:<12} rows  {hash}", t.table, rows, t.expected_rows);
        }
    }
    for p in &report.problems {
        println!("  problem: {p}");
    }
    println!("{}", if report.ok() { "verify: OK" } else { "verify: FAILED" });
}
