use std::{io::Write, os::unix::fs::OpenOptionsExt};

use anyhow::{Context, Result};
use lifeboat_daemon::runner::ExportJob;

use crate::{
    context,
    flags::{ExportArgs, Global},
    logged::Jobs,
};

pub fn run(global: &Global, args: &ExportArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entry = lifeboat_engine::resolve(&repo, &args.snapshot, args.db.as_deref())?;
    let jobs = Jobs::new(global)?;
    match args.output.as_deref() {
        Some(path) => {
            // Written beside the destination and renamed, so a failed export leaves no half file.
            let partial = path.with_extension("lifeboat-partial");
            // 0600: an export holds every row; who else may read it is the user's choice.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut out = std::io::BufWriter::new(file);
            if let Err(err) = jobs.run(&repo, &mut ExportJob::sql(&entry, &mut out), None, None) {
                let _ = std::fs::remove_file(&partial);
                return Err(err);
            }
            std::fs::rename(&partial, path)?;
            eprintln!("exported snapshot {} of `{}` to {}", entry.short_id, entry.summary.database, path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            jobs.run(&repo, &mut ExportJob::sql(&entry, &mut out), None, None)?;
            out.flush()?;
            // Said on stderr, which the SQL does not go to: which database's backup this was.
            eprintln!("exported snapshot {} of `{}`", entry.short_id, entry.summary.database);
        }
    }
    Ok(0)
}
