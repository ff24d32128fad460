use anyhow::Result;
use lifeboat_daemon::{Filter, JobLog, JobRecord};

use crate::{
    context,
    flags::{Global, LogArgs},
    output,
};

/// The job log of the configured state directory.
pub fn open(global: &Global) -> Result<JobLog> {
    let Some(dir) = context::state_dir(global)? else {
        return Err(lifeboat_engine::EngineError::input(
            "no job log: neither a configuration nor LIFEBOAT_STATE_DIR is given",
            "pass --config /etc/lifeboat/lifeboat.toml (its [state] dir holds the log) or set LIFEBOAT_STATE_DIR",
        )
        .into());
    };
    Ok(JobLog::open(&dir)?)
}

pub fn run(global: &Global, args: &LogArgs) -> Result<i32> {
    let since = match &args.since {
        Some(text) => {
            let span = lifeboat_engine::parse_within(text)?;
            Some(jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::system()).checked_sub(span)?.timestamp())
        }
        None => None,
    };
    let filter = Filter { database: args.db.clone(), since, status: args.status.clone(), kind: None };
    let jobs = open(global)?.query(&filter)?;
    if global.json {
        output::json(&serde_json::json!({ "jobs": jobs }))?;
        return Ok(0);
    }
    if jobs.is_empty() {
        println!("no jobs logged{}", if args.db.is_some() || args.since.is_some() || args.status.is_some() { " that match" } else { "" });
        return Ok(0);
    }
    println!(
        "{:>5}  {:<23}  {:<12}  {:<7}  {:<14}  {:<9}  {:<11}  {:>7}  RESULT",
        "ID", "STARTED", "DATABASE", "KIND", "CLASSES", "TRIGGER", "STATUS", "TOOK"
    );
    for job in &jobs {
        println!(
            "{:>5}  {:<23}  {:<12}  {:<7}  {:<14}  {:<9}  {:<11}  {:>7}  {}",
            job.id,
            output::time(job.started_at),
            job.database.as_deref().unwrap_or("-"),
            job.kind,
            job.classes.join(","),
            format!("{}", job.trigger),
            job.status,
            job.seconds().map_or("-".into(), |s| format!("{s:.1}s")),
            result(job)
        );
    }
    println!("{}", output::count(jobs.len() as u64, "job"));
    Ok(0)
}

/// What a job left: its snapshot and figures, or its error.
fn result(job: &JobRecord) -> String {
    if let Some(error) = &job.error {
        return error.lines().next().unwrap_or_default().to_string();
    }
    let mut parts = Vec::new();
    if let Some(s) = &job.snapshot {
        parts.push(format!("snapshot {}", &s[..8.min(s.len())]));
    }
    match (job.rows, job.kind.as_str()) {
        (Some(n), "forget" | "prune") => parts.push(format!("{} removed", output::count(n, "backup"))),
        (Some(n), _) => parts.push(output::count(n, "row")),
        (None, _) => {}
    }
    if let Some(added) = job.bytes_added {
        parts.push(format!("{} added", output::size(added)));
    }
    if job.status == "running" {
        parts.push(format!("by {}@{} pid {}", job.actor, job.host, job.pid));
    }
    parts.join(", ")
}
