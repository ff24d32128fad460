use std::io::Write;

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

/// How many jobs the text listing shows without `--last` or `--all`: a screenful or two, the
/// newest, which is what a person running `lifeboat log` looks for; a log of 100,000 jobs
/// would scroll them away.
const TEXT_LAST: usize = 100;

pub fn run(global: &Global, args: &LogArgs) -> Result<i32> {
    let since = context::since(args.since.as_deref())?;
    let filter = Filter { database: args.db.clone(), since, status: args.status.clone(), ..Default::default() };
    let log = open(global)?;
    let mut out = output::stdout();
    if global.json {
        output::json_to(
            &mut out,
            &lifeboat_daemon::output::Log { jobs: lifeboat_daemon::output::JobList { log: &log, filter: &filter, last: args.last } },
        )?;
        return Ok(out.flush().map(|()| 0)?);
    }
    let last = if args.all { None } else { Some(args.last.unwrap_or(TEXT_LAST)) };
    let mut shown = 0u64;
    log.listing(&filter, last, |job| {
        if shown == 0 {
            writeln!(
                out,
                "{:>5}  {:<23}  {:<12}  {:<7}  {:<14}  {:<9}  {:<11}  {:>7}  RESULT",
                "ID", "STARTED", "DATABASE", "KIND", "CLASSES", "TRIGGER", "STATUS", "TOOK"
            )?;
        }
        shown += 1;
        writeln!(
            out,
            "{:>5}  {:<23}  {:<12}  {:<7}  {:<14}  {:<9}  {:<11}  {:>7}  {}",
            job.id,
            output::time(job.started_at),
            job.database.as_deref().unwrap_or("-"),
            job.kind,
            job.classes.join(","),
            job.trigger,
            job.status,
            job.seconds().map_or("-".into(), |s| format!("{s:.1}s")),
            result(&job)
        )?;
        anyhow::Ok(())
    })?;
    if shown == 0 {
        let filtered = args.db.is_some() || args.since.is_some() || args.status.is_some();
        writeln!(out, "no jobs logged{}", if filtered { " that match" } else { "" })?;
    } else {
        // Counted only when the listing may have been cut short.
        let total = if last.is_some_and(|n| shown == n as u64) { log.count(&filter)?.max(shown) } else { shown };
        if total > shown {
            writeln!(out, "the newest {shown} of {total} jobs; `--all` lists every one, `--last N` the newest N")?;
        } else {
            writeln!(out, "{}", output::count(shown, "job"))?;
        }
    }
    out.flush()?;
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
