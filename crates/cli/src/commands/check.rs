use anyhow::Result;
use lifeboat_daemon::runner::CheckJob;

use crate::{
    context,
    flags::{CheckArgs, Global},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &CheckArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let mut job = CheckJob::new(None, if args.read_data { 100 } else { 0 });
    let report = Jobs::new(global)?.run(&repo, &mut job, None, args.read_data.then_some("reading packs"))?;
    if global.json {
        output::json(&lifeboat_daemon::output::Check::of(&report, args.read_data))?;
    } else {
        for group in grouped(&report.findings) {
            let level = if group.error { "error" } else { "warning" };
            match group.ids.len() {
                0 | 1 => println!("{level}: {}", group.first),
                n => println!(
                    "{level}: {} ({n} times; e.g. {})",
                    group.pattern,
                    group.ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                ),
            }
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
            let warnings = report.findings.len();
            let tidy = if warnings > 0 { format!("; {}", output::count(warnings as u64, "warning")) } else { String::new() };
            println!("check: OK ({what} of {} snapshots{tidy})", report.snapshots_checked);
        }
    }
    Ok(if report.has_errors() { 1 } else { 0 })
}

/// Findings that differ only in the ids they name (one per missing blob of one file, say).
struct Group {
    error: bool,
    /// The message with its ids left out.
    pattern: String,
    /// The first message, as the check wrote it.
    first: String,
    /// The id each message named, in order.
    ids: Vec<String>,
}

/// The findings grouped by [`Group::pattern`], in the order they first appear: a damaged pack
/// can make hundreds of blobs unreadable, and a person needs to see what, not every id.
fn grouped(findings: &[lifeboat_engine::CheckFinding]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for finding in findings {
        let mut ids = Vec::new();
        let pattern: String = finding
            .message
            .split(' ')
            .map(|word| {
                let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                if (8..=64).contains(&bare.len()) && bare.chars().all(|c| c.is_ascii_hexdigit()) {
                    ids.push(bare.to_string());
                    word.replace(bare, "…")
                } else {
                    word.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        match groups.iter_mut().find(|g| g.error == finding.error && g.pattern == pattern) {
            Some(group) => group.ids.extend(ids.into_iter().take(1)),
            None => {
                groups.push(Group { error: finding.error, pattern, first: finding.message.clone(), ids: ids.into_iter().take(1).collect() })
            }
        }
    }
    groups
}
