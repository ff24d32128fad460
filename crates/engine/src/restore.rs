//! Restoring a backup, whole or one table, without making anything worse. One flow for every
//! engine (DESIGN.md decision 7):
//!
//! 1. **plan**: what will be restored into what, and whether something is replaced;
//! 2. **consent**: replacing anything needs a yes (a prompt, or `--yes`);
//! 3. **stage**: the backup is loaded beside the target, every stream checked against its
//!    manifest on the way; nothing live changes;
//! 4. **verify**: the staged copy is compared with the backup's catalog;
//! 5. **safety copy**: the engine stops the target's writers, and what will be replaced is
//!    kept while they wait (see [`keep_target`]), so every transaction committed before the
//!    swap is in it: none can fall between the safety copy and the swap;
//! 6. **swap**: the copy is put in place, in one atomic step, and the writers go on.
//!
//! A one-table restore runs steps 3 to 6 inside the engine, in one transaction on the live
//! database that changes that table and nothing else.

use lifeboat_repo::Repo;
use lifeboat_sources::{BackupStreams, CaptureOptions, CopyCheck, Database, RestoreCheck, RestoreOptions as EngineOptions, TableCheck};
use serde::Serialize;

use crate::{
    EngineError, Result,
    backup::{BackupRequest, backup},
    manifest::BackupEntry,
    retention::SAFETY_CLASS,
    stored::StoredBackup,
};

/// What a restore is about to do, shown to the user before anything is replaced.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RestorePlan {
    pub snapshot: BackupEntry,
    /// The target as shown to people: a path, or a URL without its password.
    pub target: String,
    /// The target exists and its content will be replaced (after a safety backup).
    pub replaces_existing: bool,
    pub existing_bytes: Option<u64>,
    /// Only this table is restored (with what belongs to it, see [`TableSet`]).
    pub table: Option<String>,
    /// The new table its rows go into instead (`--as`), beside the original.
    pub table_as: Option<String>,
    pub rows: u64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RestoreReport {
    pub plan: RestorePlan,
    pub safety_backup: Option<BackupEntry>,
    /// Set when what was replaced could not be kept as a normal safety backup: where and how
    /// it was kept instead (a raw copy in the repository, a copy beside the target, or a
    /// replaced database kept under another name).
    pub safety_note: Option<String>,
    /// What else a person should know: where the replaced database is kept, what the engine
    /// could not restore as it was.
    pub notes: Vec<String>,
    /// What stands behind the restored copy, one sentence each: the checksums, the checks
    /// the backup recorded, a passed drill of this very backup, what was checked now.
    pub vouched_by: Vec<String>,
    pub check: CopyCheck,
    pub rows_restored: u64,
}

/// How a restore may treat the target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreOptions {
    /// Restore only this table, into the existing database.
    pub table: Option<String>,
    /// Restore a backup whose manifest records a failed integrity check, as it was.
    pub accept_damaged: bool,
    /// What the target's engine may offer beyond that (`--as`, `--globals`, `--jobs`, ...).
    pub engine: EngineOptions,
    /// The newest restore drill of this very snapshot that came to a verdict, as the job log
    /// knows it. One that passed vouches for the copy (its full check ran on provably the
    /// same bytes); one that failed makes the restore run the full check itself.
    pub drill: Option<Drill>,
}

/// A restore drill of the snapshot being restored.
#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    /// How people know it: "the restore drill of <time>".
    pub name: String,
    pub passed: bool,
}

/// Restores `snapshot` into `target` (a whole database, or one table of it).
///
/// `confirm` is asked before an existing target is changed; returning `false` aborts with
/// nothing changed.
pub fn restore(
    repo: &Repo,
    snapshot: &BackupEntry,
    target: &dyn Database,
    options: &RestoreOptions,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<RestoreReport> {
    let engine = target.engine();
    if snapshot.summary.engine != engine.name() {
        return Err(EngineError::input(
            format!(
                "snapshot {} is a {} backup and cannot be restored into a {} database",
                snapshot.short_id,
                snapshot.summary.engine,
                engine.name()
            ),
            "choose a target of the same engine",
        ));
    }
    // 1. Plan.
    let backup = StoredBackup::open(repo, snapshot)?;
    let catalog = backup.catalog();
    let table = options.table.as_ref().map(|name| engine.find_table(catalog, name)).transpose()?;
    let table = table.as_ref();
    let exists = target.exists()?;
    if table.is_some() && !exists {
        return Err(EngineError::input(
            format!("{} does not exist, and --table restores into an existing database", target.label()),
            "restore the whole database with `lifeboat restore <SNAPSHOT> --to <DB>`",
        ));
    }
    let plan = RestorePlan {
        snapshot: snapshot.clone(),
        target: target.label(),
        replaces_existing: exists && options.engine.table_as.is_none(),
        existing_bytes: if exists { target.size() } else { None },
        table: table.map(|t| t.name.clone()),
        table_as: table.and(options.engine.table_as.clone()),
        rows: table.map_or(catalog.total_rows(), |t| t.rows),
    };

    // 2. Consent.
    if plan.replaces_existing && !confirm(&plan) {
        let what = match &plan.table {
            Some(t) => format!("the rows of table `{t}` in {} would be replaced", plan.target),
            None => format!("{} exists and would be replaced", plan.target),
        };
        return Err(EngineError::NotConfirmed {
            context: format!("not restoring: {what}"),
            hint: "pass --yes to replace it (what it replaces is kept first, in a safety backup)".into(),
        });
    }
    // 5. The safety copy, taken when the engine calls for it (its writers held off).
    let mut kept: Option<(Option<BackupEntry>, Option<String>)> = None;
    let mut keep_failed: Option<EngineError> = None;
    let mut keep = || -> lifeboat_sources::Result<()> {
        if !plan.replaces_existing || kept.is_some() {
            return Ok(());
        }
        let result = keep_target(repo, target, &plan, table.is_none()).and_then(|done| match repo.is_cancelled() {
            // Interrupted once the safety copy was made: stop before anything is replaced.
            true => Err(interrupted(&plan, "before the swap")),
            false => Ok(done),
        });
        match result {
            Ok(done) => {
                kept = Some(done);
                Ok(())
            }
            Err(err) => {
                let said = lifeboat_sources::SourceError::new(lifeboat_sources::SourceErrorKind::Io, err.to_string(), "");
                keep_failed = Some(err);
                Err(said)
            }
        }
    };

    // A failed drill of this very backup is the one reason not to trust its recorded checks.
    let failed_drill = options.drill.as_ref().filter(|d| !d.passed);
    let check_level = if failed_drill.is_some() { RestoreCheck::Full } else { options.engine.check };
    let engine_options = EngineOptions { check: check_level, ..options.engine.clone() };
    if let Some(table) = table {
        let restored = target.restore_table(&backup, table, &engine_options, &mut keep);
        let rows_restored = restored.map_err(|err| keep_failed.take().unwrap_or_else(|| err.into()))?;
        let (safety_backup, safety_note) = kept.unwrap_or_default();
        let notes = table.note.iter().cloned().collect();
        let check = CopyCheck::default();
        return Ok(RestoreReport { plan, safety_backup, safety_note, notes, vouched_by: Vec::new(), check, rows_restored });
    }

    // 3. Stage, 4. verify, 5. keep and 6. swap.
    let mut staged = target.stage(&backup, &engine_options)?;
    let check = staged.check(check_level)?;
    if !check.ok() {
        // A backup that was already damaged when it was taken may be the best there is: it
        // is restored as it was on purpose, never by accident.
        let damaged_at_backup = catalog.damaged_at_backup();
        let only_integrity = check.tables.iter().all(TableCheck::ok);
        if !(options.accept_damaged && damaged_at_backup && only_integrity) {
            let hint = if damaged_at_backup && only_integrity {
                "this backup was already damaged when it was taken (see `lifeboat show`): restore an older snapshot, or pass --accept-damaged to restore it exactly as it was; nothing live was touched"
            } else {
                "nothing live was touched; try an older snapshot and run `lifeboat check --read-data`"
            };
            return Err(EngineError::Mismatch {
                context: format!("the restored copy of snapshot {} failed its checks: {}", snapshot.short_id, check.problems().join("; ")),
                hint: hint.into(),
            });
        }
    }
    let vouched_by = vouched_by(&check, options.drill.as_ref());
    let swapped = staged.swap_in(&mut keep);
    let notes = swapped.map_err(|err| keep_failed.take().unwrap_or_else(|| err.into()))?.into_iter().collect();
    let (safety_backup, safety_note) = kept.unwrap_or_default();
    Ok(RestoreReport { plan, safety_backup, safety_note, notes, vouched_by, check, rows_restored: catalog.total_rows() })
}

/// What stands behind a copy that passed `check`, for people (DESIGN.md, restore checks):
/// checks that ran on the backup's very bytes count as much as checks run now.
fn vouched_by(check: &CopyCheck, drill: Option<&Drill>) -> Vec<String> {
    let mut out = vec!["every stream's SHA-256 matched the manifest: these are the very bytes that were backed up".to_string()];
    if let Some(level) = check.integrity_at_backup {
        out.push(format!("the {} integrity check passed on them when the backup was taken", level.name()));
    }
    match drill {
        Some(Drill { name, passed: true }) => out.push(format!("{name} passed the full integrity check on these very bytes")),
        Some(Drill { name, passed: false }) => out.push(format!("{name} failed, so the full integrity check ran on the restored copy now")),
        None => {}
    }
    match check.integrity_now {
        _ if drill.is_some_and(|d| !d.passed) => {}
        Some(level) if check.integrity_at_backup.is_none() && drill.is_none() => {
            out.push(format!("the backup recorded no passed integrity check, so the {} one ran on the restored copy now", level.name()))
        }
        Some(level) => out.push(format!("the {} integrity check ran on the restored copy now", level.name())),
        None => {}
    }
    let tables = check.tables.len() as u64;
    let hashed = check.tables.iter().filter(|t| t.hash_matches == Some(true)).count() as u64;
    out.push(format!("the row counts of {} match the manifest", count(tables, "table")));
    if hashed > 0 {
        out.push(format!("so do the content hashes of {}, read back now", count(hashed, "table")));
    }
    out
}

fn count(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Keeps what a restore is about to replace: a safety backup when it can be read; else what
/// the engine can still keep in the repository (a damaged SQLite file's raw bytes: damage is
/// the very case restores are for); else, when the repository cannot take it (read-only,
/// full), a copy beside the target; else, for a whole restore whose engine keeps the replaced
/// database itself, nothing more. Fails, and nothing is restored, when none of these holds.
fn keep_target(repo: &Repo, target: &dyn Database, plan: &RestorePlan, whole: bool) -> Result<(Option<BackupEntry>, Option<String>)> {
    let first =
        target.source(&CaptureOptions::default()).map_err(EngineError::from).and_then(|source| safety_backup(repo, source.as_ref(), plan));
    let failure = match first {
        Ok(entry) => return Ok((Some(entry), None)),
        Err(err) => err,
    };
    // Interrupted (Ctrl-C, a daemon stopping): stop here, keeping nothing beside the target.
    // The partial safety backup wrote no snapshot, and the caller removes the staged copy.
    if repo.is_cancelled() {
        return Err(interrupted(plan, "while its safety backup was taken"));
    }
    let why = failure.to_string().lines().next().unwrap_or_default().to_string();
    let repository_failed = matches!(failure, EngineError::Repo(_));
    if !repository_failed
        && let Some(raw) = target.raw_source(&why)
        && let Ok(entry) = safety_backup(repo, raw.as_ref(), plan)
    {
        let note = format!("{} could not be read ({why}); its raw bytes were kept as safety backup {}", plan.target, entry.short_id);
        return Ok((Some(entry), Some(note)));
    }
    match target.keep_beside() {
        Some(Ok(kept)) => Ok((None, Some(format!("the safety backup of {} failed ({why}); it was copied to {kept} instead", plan.target)))),
        Some(Err(err)) => Err(EngineError::Mismatch {
            context: format!(
                "{} could not be kept before replacing it, so nothing was restored: the safety backup failed ({why}) and copying it beside itself failed ({err})",
                plan.target
            ),
            hint: "make room next to the database or in the repository, then restore again".into(),
        }),
        None if whole && target.keeps_replaced() => {
            Ok((None, Some(format!("the safety backup failed ({why}); the replaced database is kept under another name instead"))))
        }
        None => Err(EngineError::Mismatch {
            context: format!("the safety backup of {} failed, so nothing was restored: {failure}", plan.target),
            hint: "fix the cause above and restore again".into(),
        }),
    }
}

/// A restore stopped (Ctrl-C, a daemon stopping) `when`, before anything was replaced.
fn interrupted(plan: &RestorePlan, when: &str) -> EngineError {
    EngineError::Mismatch {
        context: format!("the restore into {} was interrupted {when}", plan.target),
        hint: "nothing was restored and nothing was changed; run the restore again".into(),
    }
}

/// Backs up what a restore is about to replace, as class `safety`, under the name that
/// already holds the target's identity (see `name_for`).
fn safety_backup(repo: &Repo, source: &dyn lifeboat_sources::Source, plan: &RestorePlan) -> Result<BackupEntry> {
    let request = BackupRequest {
        name: Some(crate::backup::name_for(repo, source)?),
        class: SAFETY_CLASS.into(),
        also_classes: Vec::new(),
        reason: Some(format!("before restoring snapshot {} into {}", plan.snapshot.short_id, plan.target)),
        tags: Vec::new(),
        source_label: plan.target.clone(),
    };
    Ok(backup(repo, source, &request)?.entry)
}
