use anyhow::Result;

use crate::{
    context,
    flags::{Global, SnapshotsArgs},
    output,
};

pub fn run(global: &Global, args: &SnapshotsArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entries = lifeboat_engine::list_with_totals(&repo, args.db.as_deref())?;
    if entries.is_empty()
        && let Some(db) = &args.db
    {
        // A name typed wrong must not read as "nothing was ever backed up".
        let known: std::collections::BTreeSet<String> =
            lifeboat_engine::list(&repo, None)?.into_iter().map(|e| e.summary.database).collect();
        if !known.is_empty() {
            return Err(lifeboat_engine::EngineError::input(
                format!("no database named `{db}` has backups in this repository"),
                format!("the databases with backups: {}", known.into_iter().collect::<Vec<_>>().join(", ")),
            )
            .into());
        }
    }
    if global.json {
        output::json(&lifeboat_daemon::output::Snapshots { snapshots: &entries })?;
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no backups yet");
        return Ok(0);
    }
    println!(
        "{:<8}  {:<23}  {:<12}  {:<16}  {:<14}  {:>10}  {:>10}  {:>12}  TAGS / REASON",
        "ID", "TIME", "HOST", "DATABASE", "CLASS", "DB SIZE", "ADDED", "ROWS"
    );
    for e in &entries {
        let mut notes: Vec<String> = e.user_tags().iter().map(|t| format!("#{t}")).collect();
        if let Some(reason) = &e.summary.reason {
            notes.push(reason.clone());
        }
        println!(
            "{:<8}  {:<23}  {:<12}  {:<16}  {:<14}  {:>10}  {:>10}  {:>12}  {}",
            e.short_id,
            output::time(e.time),
            e.hostname,
            e.summary.database,
            e.summary.class,
            e.summary.database_bytes.map_or("-".into(), output::size),
            output::size(e.added_bytes),
            e.summary.rows,
            notes.join("  ")
        );
    }
    println!(
        "{} (DB SIZE: the database's size when backed up; ADDED: what its backup added to the repository)",
        output::count(entries.len() as u64, "backup")
    );
    Ok(0)
}
