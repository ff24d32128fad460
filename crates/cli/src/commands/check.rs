use anyhow::Result;

use crate::{
    context,
    flags::{CheckArgs, Global},
    output,
    progress::Progress,
};

pub fn run(global: &Global, args: &CheckArgs) -> Result<i32> {
    let progress = Progress::start("reading packs", None, global.json || !args.read_data);
    let repo = context::open_with_progress(global, progress.counter.clone())?;
    let report = repo.check(args.read_data)?;
    drop(progress);
    if global.json {
        output::json(&serde_json::json!({
            "ok": !report.has_errors(),
            "read_data": args.read_data,
            "snapshots_checked": report.snapshots_checked,
            "findings": report.findings.iter().map(|f| serde_json::json!({"error": f.error, "message": f.message})).collect::<Vec<_>>(),
            "affected_snapshots": report.affected.iter().map(|s| &s.id).collect::<Vec<_>>(),
        }))?;
    } else {
        for f in &report.findings {
            println!("{}: {}", if f.error { "error" } else { "warning" }, f.message);
        }
        for s in &report.affected {
            let entry = lifeboat_engine::BackupEntry::from_snapshot(s);
            let db = entry.map(|e| e.summary.database).unwrap_or_default();
            println!("affected: snapshot {} ({db}, {}) cannot be fully restored", s.short_id(), output::time(s.time));
        }
        let what = if args.read_data { "structure and data" } else { "structure" };
        if report.has_errors() {
            println!("check: FAILED ({what} of {} snapshots; {} affected)", report.snapshots_checked, report.affected.len());
        } else {
            println!("check: OK ({what} of {} snapshots)", report.snapshots_checked);
        }
    }
    Ok(if report.has_errors() { 1 } else { 0 })
}
