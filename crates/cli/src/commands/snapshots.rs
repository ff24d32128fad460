use anyhow::Result;

use crate::{context, flags::{Global, SnapshotsArgs}, output};

pub fn run(global: &Global, args: &SnapshotsArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let mut entries = lifeboat_engine::list(&repo, args.db.as_deref())?;
    // Row totals live in each manifest; read them with one index load.
    let indexed = repo.indexed()?;
    for entry in &mut entries {
        if let Ok(reader) = indexed.snapshot(&entry.id) {
            if let Ok(bytes) = reader.manifest() {
                if let Ok(manifest) = serde_json::from_slice::<lifeboat_engine::Manifest>(&bytes) {
                    entry.summary.rows = manifest.catalog.total_rows();
                    entry.summary.bytes = manifest.streams.iter().map(|s| s.bytes).sum();
                }
            }
        }
    }
    if global.json {
        output::json(&entries)?;
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no backups yet");
        return Ok(0);
    }
    println!("{:<8}  {:<19}  {:<16}  {:<14}  {:>10}  {:>12}  {}", "ID", "TIME", "DATABASE", "CLASS", "SIZE", "ROWS", "TAGS / REASON");
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
