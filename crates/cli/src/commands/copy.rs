use anyhow::Result;
use lifeboat_daemon::Outcome;
use lifeboat_engine::{Location, Repo};

use crate::{
    context::{self, PasswordSource},
    flags::{CopyArgs, Global},
    logged, output,
};

pub fn run(global: &Global, args: &CopyArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let ids: Vec<String> = if args.all {
        lifeboat_engine::list(&repo, args.db.as_deref())?.into_iter().map(|e| e.id).collect()
    } else {
        args.snapshots.iter().map(|spec| Ok(lifeboat_engine::resolve(&repo, spec, args.db.as_deref())?.id)).collect::<Result<_>>()?
    };
    let password = PasswordSource { file: args.to_password_file.as_deref(), env: "LIFEBOAT_TO_PASSWORD", flag: "--to-password-file" }
        .read("mirror password", false)?;
    let mirror = Repo::open(&crate::context::with_cacert(global, Location::parse(&args.to)?), &password)?
        .with_lock_wait(global.lock_wait)
        .for_job(crate::JOB.clone(), None)?;
    let job = logged::Job {
        database: args.db.as_deref(),
        repository: Some(&args.to),
        kind: lifeboat_daemon::JobKind::Copy,
        classes: &[],
        reason: None,
        repo: &repo,
    };
    let report = logged::run(
        global,
        job,
        || Ok(repo.copy_to(&mirror, &ids)?),
        |report| Outcome { status: "ok", rows: Some(report.copied.len() as u64), ..Default::default() },
    )?;
    if global.json {
        output::json(&lifeboat_daemon::output::Copy::of(&args.to, &report))?;
    } else {
        println!("copied {} to {} ({} already there)", output::count(report.copied.len() as u64, "backup"), args.to, report.present.len());
    }
    Ok(0)
}
