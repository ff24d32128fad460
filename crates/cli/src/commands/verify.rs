use anyhow::Result;

use crate::{
    context,
    flags::{Global, VerifyArgs},
    output,
    progress::Progress,
};

pub fn run(global: &Global, args: &VerifyArgs) -> Result<i32> {
    let progress = Progress::start("restore drill", None, global.json);
    let repo = context::open_with_progress(global, progress.counter.clone())?;
    let entry = lifeboat_engine::resolve(&repo, &args.snapshot, args.db.as_deref())?;
    let report = lifeboat_engine::verify(&repo, &entry, args.scratch.as_deref(), args.jobs.map(|n| n as usize))?;
    drop(progress);
    if global.json {
        output::json(&report)?;
    } else {
        println!(
            "restore drill of snapshot {} (`{}`, {}) in {:.1}s",
            entry.short_id,
            entry.summary.database,
            output::time(entry.time),
            report.seconds
        );
        println!("  streams' sha256 match the manifest: {}", if report.image_matches { "yes" } else { "NO" });
        if let Some(check) = &report.check {
            println!(
                "  integrity_check: {}",
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
    Ok(if report.ok() { 0 } else { 1 })
}
