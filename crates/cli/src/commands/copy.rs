use anyhow::Result;
use lifeboat_daemon::runner::CopyJob;
use lifeboat_engine::{Location, Repo};

use crate::{
    context::{self, PasswordSource},
    flags::{CopyArgs, Global},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &CopyArgs) -> Result<i32> {
    let repo = context::open(global)?;
    // `--all`: every backup (of --db), as the job finds them.
    let ids: Option<Vec<String>> = match args.all {
        true => None,
        false => Some(
            args.snapshots.iter().map(|spec| Ok(lifeboat_engine::resolve(&repo, spec, args.db.as_deref())?.id)).collect::<Result<_>>()?,
        ),
    };
    let password = PasswordSource { file: args.to_password_file.as_deref(), env: "LIFEBOAT_TO_PASSWORD", flag: "--to-password-file" }
        .read("mirror password", false)?;
    let mirror = Repo::open(&crate::context::with_cacert(global, Location::parse(&args.to)?), &password)?.with_lock_wait(global.lock_wait);
    let mut job = CopyJob::new(&repo, &args.to, args.db.as_deref(), ids);
    let report = Jobs::new(global)?.run(&mirror, &mut job, None, None)?;
    if global.json {
        output::json(&lifeboat_daemon::output::Copy::of(&args.to, &report))?;
    } else {
        println!("copied {} to {} ({} already there)", output::count(report.copied.len() as u64, "backup"), args.to, report.present.len());
    }
    Ok(0)
}
