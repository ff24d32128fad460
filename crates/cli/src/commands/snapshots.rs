use anyhow::Result;

use crate::{
    context,
    flags::{Global, SnapshotsArgs},
    output,
};

pub fn run(global: &Global, args: &SnapshotsArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entries = lifeboat_engine::list_with_totals(&repo, args.db.as_deref())?;
    if global.json {
        output::json(&entries)?;
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no backups yet");
        return Ok(0);
    }
    println!("{:<8}  {:<19}  {:<16}  {:<14}  {:>10}  {:>12}  TAGS / REASON", "ID", "TIME", "DATABASE", "CLASS", "SIZE", "ROWS");
    for e in &entries {
        let mut notes: Vec<String> = e.user_tags().iter().map(|t| format!("#{t}")).collect();
        if let Some(reason) = &e.summary.reason {
            notes.push(reason.clone());
        }
        println!(
            "{:<8}  {:<19}  {:<16}  {:<14}  {:>10}  {:>12}  {}",
            e.short_id,
            output::time(e.time),
            e.summary.database,
            e.summary.class,
            output::size(e.summary.bytes),
            e.summary.rows,
            notes.join("  ")
        );
    }
    println!("{} backups", entries.len());
    Ok(0)
}
