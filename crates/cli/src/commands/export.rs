use std::{io::Write, os::unix::fs::OpenOptionsExt};

use anyhow::{Context, Result};

use lifeboat_daemon::Outcome;

use crate::{
    context,
    flags::{ExportArgs, Global},
    logged,
};

pub fn run(global: &Global, args: &ExportArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entry = lifeboat_engine::resolve(&repo, &args.snapshot, args.db.as_deref())?;
    let job = logged::Job {
        database: Some(&entry.summary.database),
        repository: None,
        kind: lifeboat_daemon::JobKind::Export,
        classes: &[],
        reason: None,
        repo: &repo,
    };
    let exported = |_: &()| Outcome { status: "ok", snapshot: Some(entry.id.clone()), ..Default::default() };
    logged::run(global, job, || write(&repo, &entry, args.output.as_deref()), exported)?;
    Ok(0)
}

/// Writes the export of `entry` to `output`, or to standard output.
fn write(repo: &lifeboat_engine::Repo, entry: &lifeboat_engine::BackupEntry, output: Option<&std::path::Path>) -> Result<()> {
    match output {
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
            let result = lifeboat_engine::export(repo, entry, &mut out, None).map_err(anyhow::Error::from).and_then(|()| Ok(out.flush()?));
            if let Err(err) = result {
                let _ = std::fs::remove_file(&partial);
                return Err(err);
            }
            std::fs::rename(&partial, path)?;
            eprintln!("exported snapshot {} of `{}` to {}", entry.short_id, entry.summary.database, path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            lifeboat_engine::export(repo, entry, &mut out, None)?;
            out.flush()?;
            // Said on stderr, which the SQL does not go to: which database's backup this was.
            eprintln!("exported snapshot {} of `{}`", entry.short_id, entry.summary.database);
        }
    }
    Ok(())
}
