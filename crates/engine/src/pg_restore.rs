//! Restoring a PostgreSQL backup so that the live database is never half-written.
//!
//! The backup is always loaded into a database that did not exist before: the target itself
//! when it does not exist yet, otherwise `<name>_lifeboat_new` beside it. Every stream is
//! checked against the manifest's SHA-256 as it is loaded and the row counts are compared
//! before anything is swapped. Only then, after consent and a safety backup of the live
//! database, are the two exchanged by renaming both in one transaction; the old database is
//! kept as `<name>_lifeboat_old_<time>` until the user drops it.
//!
//! A restore killed half-way leaves only `<name>_lifeboat_new`, which the next restore into
//! the same target drops before it starts (the name says whose it is).

use std::io::Write;

use lifeboat_repo::{Repo, SnapshotReader};
use lifeboat_sources::{
    CopyCheck,
    postgres::{self, Conn, PostgresSource, Tools},
};

use crate::{
    EngineError, Result,
    manifest::{BackupEntry, Manifest},
    restore::{RestoreOptions, RestorePlan, RestoreReport, take_safety_backup},
    scratch::read_verified,
    select,
};

/// Loads `snapshot` into the new database `target` and checks it; drops it again on failure.
pub(crate) fn load_checked(
    tools: &Tools,
    reader: &SnapshotReader,
    manifest: &Manifest,
    target: &Conn,
    hashes: bool,
    jobs: Option<usize>,
) -> Result<CopyCheck> {
    postgres::create_database(tools, target, &manifest.catalog)?;
    let loaded = (|| -> Result<CopyCheck> {
        let read = |name: &str, out: &mut dyn Write| -> std::io::Result<u64> { read_checked(reader, manifest, name, out) };
        let loaded = postgres::load(tools, target, &manifest.catalog, &read, jobs.unwrap_or_else(default_jobs))?;
        let check = postgres::check(tools, target, &manifest.catalog, &loaded, hashes)?;
        Ok(check)
    })();
    match loaded {
        Ok(check) if check.ok() => Ok(check),
        Ok(check) => {
            let _ = postgres::drop_database(tools, target);
            Err(EngineError::Mismatch {
                context: format!(
                    "the restored copy of snapshot {} failed its checks: {}",
                    reader.info().short_id(),
                    check.problems().join("; ")
                ),
                hint: "nothing live was touched; try an older snapshot and run `lifeboat check --read-data`".into(),
            })
        }
        Err(err) => {
            let _ = postgres::drop_database(tools, target);
            Err(err)
        }
    }
}

/// Parallel sessions for loading: one per core, at least two (COPY waits on the server too).
fn default_jobs() -> usize {
    postgres::default_jobs().max(2)
}

/// [`read_verified`] in the shape the PostgreSQL source reads streams.
pub(crate) fn read_checked(reader: &SnapshotReader, manifest: &Manifest, name: &str, out: &mut dyn Write) -> std::io::Result<u64> {
    read_verified(reader, manifest, name, out).map_err(std::io::Error::other)
}

pub(crate) fn restore(
    repo: &Repo,
    snapshot: &BackupEntry,
    target: &Conn,
    options: &RestoreOptions,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<RestoreReport> {
    let live = target
        .database()
        .ok_or_else(|| EngineError::input(format!("{} names no database", target.label()), "end the URL with /DATABASE"))?
        .to_string();
    let tools = Tools::find()?;
    let reader = repo.reader(&snapshot.id)?;
    let manifest = select::manifest(&reader)?;
    let read = |name: &str, out: &mut dyn Write| read_checked(&reader, &manifest, name, out);
    let exists = postgres::database_exists(&tools, target)?;
    let table = match &options.table {
        Some(name) => Some(find_table(&manifest, name, snapshot)?),
        None => None,
    };
    let plan = RestorePlan {
        snapshot: snapshot.clone(),
        target: target.label(),
        replaces_existing: exists && options.table_as.is_none(),
        existing_bytes: None,
        table: table.map(|t| t.name.clone()),
        rows: table.map_or(manifest.catalog.total_rows(), |t| t.rows),
    };
    if table.is_some() && !exists {
        return Err(EngineError::input(
            format!("database `{live}` does not exist, and --table restores into an existing database"),
            "restore the whole database with `lifeboat restore <SNAPSHOT> --to postgres://…/NAME`",
        ));
    }

    let (mut safety, mut safety_note) = (None, None);
    if plan.replaces_existing {
        if !confirm(&plan) {
            let what = match &plan.table {
                Some(t) => format!("the rows of table {t} in database `{live}` would be replaced"),
                None => format!("database `{live}` exists and would be replaced"),
            };
            return Err(EngineError::NotConfirmed {
                context: format!("not restoring: {what}"),
                hint: "pass --yes to replace it (a safety backup is taken first, and a replaced database is kept under another name)"
                    .into(),
            });
        }
        match PostgresSource::connect(target.clone())
            .map_err(EngineError::from)
            .and_then(|source| take_safety_backup(repo, &source, &plan.target, snapshot))
        {
            Ok(entry) => safety = Some(entry),
            // A whole-database restore keeps the replaced database under another name, so it
            // can go on; a one-table restore changes the live table and cannot.
            Err(err) if table.is_none() => {
                safety_note = Some(format!(
                    "the safety backup failed ({}); the replaced database is kept under another name instead",
                    err.to_string().lines().next().unwrap_or_default()
                ))
            }
            Err(err) => {
                return Err(EngineError::Mismatch {
                    context: format!("the safety backup of {} failed, so nothing was restored: {err}", plan.target),
                    hint: "fix the cause above and restore again, or restore the table beside the live one with --as NEW_NAME".into(),
                });
            }
        }
    }

    if let Some(table) = table {
        let rows = postgres::restore_table(&tools, target, table, &read, options.table_as.as_deref())?;
        return Ok(RestoreReport { plan, safety_backup: safety, safety_note, check: CopyCheck::default(), rows_restored: rows });
    }

    if options.globals {
        if manifest.stream("globals.sql").is_none() {
            return Err(EngineError::input(
                format!("snapshot {} holds no roles: it was taken without --globals", snapshot.short_id),
                "restore without --globals, or take a backup with `lifeboat backup --globals`",
            ));
        }
        postgres::apply_globals(&tools, target, &read)?;
    }

    // Always load beside the target, under a name that says it is unfinished: a restore
    // killed half-way never leaves a half-loaded database under the name the user gave.
    let staging = target.with_database(&side_name(&live, "new"));
    // A restore killed earlier left this behind; it is ours by name and never live.
    postgres::drop_database(&tools, &staging)?;
    let check = load_checked(&tools, &reader, &manifest, &staging, false, options.jobs)?;
    let old = exists.then(|| side_name(&live, &format!("old_{}", jiff::Zoned::now().strftime("%Y%m%d%H%M%S"))));
    postgres::swap(&tools, target, staging.database().expect("named"), old.as_deref(), options.terminate_connections)?;
    if let (Some(note), Some(old)) = (&mut safety_note, &old) {
        note.push_str(&format!(": `{old}`"));
    }
    Ok(RestoreReport { plan, safety_backup: safety, safety_note, check, rows_restored: manifest.catalog.total_rows() })
}

/// The table `name` (`schema.table`, or a bare name in `public`) of the backup.
fn find_table<'m>(manifest: &'m Manifest, name: &str, snapshot: &BackupEntry) -> Result<&'m lifeboat_sources::TableInfo> {
    let qualified = if name.contains('.') { name.to_string() } else { format!("public.{name}") };
    manifest.catalog.tables.iter().find(|t| t.name == qualified || t.name == name).ok_or_else(|| {
        let names: Vec<&str> = manifest.catalog.tables.iter().map(|t| t.name.as_str()).collect();
        EngineError::input(format!("snapshot {} has no table `{name}`", snapshot.short_id), format!("tables in it: {}", names.join(", ")))
    })
}

/// `<name>_lifeboat_<suffix>`, cut to PostgreSQL's 63-byte identifier limit.
fn side_name(live: &str, suffix: &str) -> String {
    let tail = format!("_lifeboat_{suffix}");
    let mut head = live.to_string();
    while head.len() + tail.len() > 63 {
        head.pop();
    }
    head + &tail
}

/// A restore drill: load `snapshot` into a scratch database (`scratch`, or a temporary one on
/// the server the backup came from), compare row counts and content hashes, drop it.
pub(crate) fn drill(repo: &Repo, snapshot: &BackupEntry, scratch: Option<&str>, jobs: Option<usize>) -> Result<CopyCheck> {
    let tools = Tools::find()?;
    let reader = repo.reader(&snapshot.id)?;
    let manifest = select::manifest(&reader)?;
    let target = match scratch {
        Some(url) => Conn::parse(url)?,
        None => Conn::parse(&manifest.source)?.with_database(&format!("lifeboat_verify_{}", snapshot.short_id)),
    };
    if postgres::database_exists(&tools, &target)? {
        return Err(EngineError::input(
            format!("the scratch database {} already exists", target.label()),
            "lifeboat only drops databases it created: name one that does not exist with --scratch, or drop it if it is a leftover drill",
        ));
    }
    let check = load_checked(&tools, &reader, &manifest, &target, true, jobs)?;
    postgres::drop_database(&tools, &target)?;
    Ok(check)
}
