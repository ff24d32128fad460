//! The paths that used to lose or endanger data, each reproduced as a person would take it.
//! Every test here failed on the code before its fix.

mod common;

use common::*;

#[test]
fn two_databases_with_one_file_stem_never_share_a_name() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("prod")).unwrap();
    std::fs::create_dir_all(env.path("staging")).unwrap();
    let prod = env.path("prod/app.db");
    let staging = env.path("staging/app.db");
    small_db(&prod);
    sql(&staging, "CREATE TABLE staging_only(x); INSERT INTO staging_only VALUES (1);");

    let prod_id = env.backup(&prod, &[]);
    let err = env.fails(&["backup", staging.to_str().unwrap()], 2);
    assert!(err.contains("already holds backups of another database") && err.contains("--name"), "{err}");
    assert!(err.contains("prod/app.db"), "the error names the other database: {err}");
    assert_eq!(env.snapshot_count(), 1);

    let staging_id = env.backup(&staging, &["--name", "staging-app"]);
    // A second backup under its own name goes through; the name is remembered by identity.
    env.backup(&staging, &["--name", "staging-app"]);
    let latest = env.json(&["show", "latest", "--db", "app"]);
    assert_eq!(latest["snapshot"]["id"], prod_id.as_str());
    assert!(latest["manifest"]["source_identity"].as_str().unwrap().ends_with("prod/app.db"));

    // Retention of `app` never touches `staging-app`.
    env.ok(&["forget", "--db", "app", "--keep-last", "1", "--yes"]);
    let names: Vec<String> =
        env.json(&["snapshots"])["snapshots"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    assert!(names.contains(&prod_id) && names.contains(&staging_id), "{names:?}");

    let err = env.fails(&["backup", staging.to_str().unwrap(), "--name", "a/b"], 2);
    assert!(err.contains("cannot be a database name"), "{err}");
}

#[test]
fn latest_never_means_a_safety_backup_and_retention_keeps_the_good_one() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &[]);
    let good = dump(&db);
    sql(&db, "DELETE FROM orders; DELETE FROM users WHERE id > 1;");

    let out = env.json(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    assert_eq!(out["safety_backup"]["class"], "safety");
    assert_eq!(dump(&db), good);
    // The same command again (a tired person at 3 a.m.) restores the good backup again,
    // not the broken state the safety backup kept.
    sql(&db, "DELETE FROM orders;");
    env.ok(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    assert_eq!(dump(&db), good);
    assert_eq!(env.json(&["show", "latest"])["snapshot"]["class"], "manual");

    // Calendar rules ignore safety backups: daily 1 keeps the good backup; the safety
    // backups are kept by age (30 days by default).
    let plan = env.json(&["forget", "--keep-daily", "1", "--dry-run"]);
    let decisions = plan["plan"][0]["decisions"].as_array().unwrap();
    for d in decisions {
        let class = d["snapshot"]["class"].as_str().unwrap();
        assert_eq!(d["keep"], true, "{d}");
        let reasons = d["reasons"].to_string();
        if class == "safety" {
            assert!(reasons.contains("safety within 30d"), "{d}");
        } else {
            assert!(reasons.contains("daily 1/1"), "{d}");
        }
    }
}

#[test]
fn forget_never_removes_the_newest_backup() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &["--class", "pre-deployment"]);
    env.backup(&db, &[]);
    let newest = env.backup(&db, &[]);
    env.ok(&["forget", "--keep-tag", "pre-deployment", "--yes"]);
    let left: Vec<String> = env.json(&["snapshots"])["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["class"].as_str().unwrap().to_string() + " " + s["id"].as_str().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|s| s.ends_with(&newest)), "the newest backup was removed: {left:?}");
    assert!(left.iter().any(|s| s.starts_with("pre-deployment")), "{left:?}");
}

#[test]
fn a_restored_file_is_never_more_readable_than_the_original() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::new();
    let db = env.path("secret.db");
    small_db(&db);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let owner = if is_root() {
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
        (65534, 65534)
    } else {
        let m = std::fs::metadata(&db).unwrap();
        (m.uid(), m.gid())
    };
    let id = env.backup(&db, &[]);
    let manifest = env.json(&["show", &id]);
    assert_eq!(manifest["manifest"]["properties"]["file_mode"], "0640");

    // A new file gets the recorded mode and (as root) owner.
    let new = env.path("new.db");
    env.ok(&["restore", &id, "--to", new.to_str().unwrap()]);
    let meta = std::fs::metadata(&new).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), owner);

    // A replaced file keeps its own.
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ok(&["restore", &id, "--to", new.to_str().unwrap(), "--yes"]);
    assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o7777, 0o600);

    // An export holds every row: it is written 0600.
    let out = env.path("secret.sql");
    env.ok(&["export", &id, "--format", "sql", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o7777, 0o600);
}

/// Overwrites the first table's root page of a rollback-journal database with garbage, so
/// SQLite can no longer read that table.
fn damage(db: &std::path::Path) {
    use std::io::{Seek, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.seek(std::io::SeekFrom::Start(4096)).unwrap();
    file.write_all(&[0xff; 4096]).unwrap();
}

/// A backed-up database, then damaged: (env, its path, its dump when good, the damaged SHA-256).
fn backed_up_then_damaged() -> (Env, std::path::PathBuf, String, String) {
    let env = Env::new();
    let db = env.path("app.db");
    sql(
        &db,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 500) INSERT INTO t SELECT n, hex(randomblob(20)) FROM g;",
    );
    env.backup(&db, &[]);
    let good = dump(&db);
    damage(&db);
    let damaged = sha256_hex(&std::fs::read(&db).unwrap());
    (env, db, good, damaged)
}

#[test]
fn a_damaged_database_can_be_restored_over_and_its_bytes_are_kept() {
    let (env, db, good, damaged) = backed_up_then_damaged();

    let out = env.json(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    assert_eq!(dump(&db), good);
    let note = out["safety_note"].as_str().unwrap();
    let raw = out["safety_backup"]["short_id"].as_str().unwrap().to_string();
    assert!(note.contains("raw bytes were kept as safety backup") && note.contains(&raw), "{note}");

    // The raw copy gives the damaged bytes back, but only on purpose.
    let back = env.path("damaged-again.db");
    let err = env.fails(&["restore", &raw, "--to", back.to_str().unwrap()], 1);
    assert!(err.contains("--accept-damaged"), "{err}");
    assert!(!back.exists());
    env.ok(&["restore", &raw, "--to", back.to_str().unwrap(), "--accept-damaged"]);
    assert_eq!(sha256_hex(&std::fs::read(&back).unwrap()), damaged);
}

#[test]
fn a_damaged_database_is_copied_beside_itself_when_the_repository_is_read_only() {
    let (env, db, good, damaged) = backed_up_then_damaged();
    // The repository is mounted read-only in a private mount namespace.
    let script = r#"
        set -u
        mount --bind "$LIFEBOAT_REPO" "$LIFEBOAT_REPO" && mount -o remount,bind,ro "$LIFEBOAT_REPO" || exit 90
        "$LB" restore latest --to app.db --yes --json >restore.json 2>restore.err; echo "$?" >restore.code
    "#;
    let read = in_mount_namespace(&env, &env.repo, script, &[]);
    assert_eq!(read("restore.code").trim(), "0", "{}", read("restore.err"));
    assert_eq!(dump(&db), good);
    let report: serde_json::Value = serde_json::from_str(&read("restore.json")).unwrap();
    let note = report["safety_note"].as_str().unwrap();
    let kept = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("app.db.lifeboat-kept-"))
        .unwrap();
    assert!(note.contains(kept.file_name().unwrap().to_str().unwrap()), "{note}");
    assert_eq!(sha256_hex(&std::fs::read(&kept).unwrap()), damaged);
    assert_eq!(env.snapshot_count(), 1, "nothing was written to the read-only repository");
}

#[test]
fn a_sqlite_backup_taken_while_the_application_writes_is_one_point_in_time() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    };
    let env = Env::new();
    let db = env.path("app.db");
    // Large enough that the image takes a while to read, so commits land while it is read.
    sql(
        &db,
        "PRAGMA journal_mode=wal;
         CREATE TABLE a(id INTEGER PRIMARY KEY, v BLOB);
         CREATE TABLE b(id INTEGER PRIMARY KEY, a_id INTEGER);
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 40000) INSERT INTO a SELECT n, randomblob(1000) FROM g;
         INSERT INTO b(a_id) SELECT id FROM a;",
    );
    // The application: each transaction adds one row to both tables, so at any one point in
    // time both have as many rows.
    let (stop, commits) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let writer = {
        let (db, stop, commits) = (db.clone(), stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            while !stop.load(Ordering::SeqCst) {
                conn.execute_batch(
                    "BEGIN IMMEDIATE; INSERT INTO a(v) VALUES (randomblob(1000)); INSERT INTO b(a_id) VALUES (last_insert_rowid()); COMMIT;",
                )
                .unwrap();
                commits.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while commits.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    let before = commits.load(Ordering::SeqCst);
    let id = env.backup(&db, &[]);
    let during = commits.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(during > 0, "the application committed while the backup ran");

    // The catalog (read beside the image, on its own connection) describes the image.
    let shown = env.json(&["show", &id]);
    let rows: Vec<u64> = shown["manifest"]["tables"].as_array().unwrap().iter().map(|t| t["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], rows[1], "one point in time: {shown}");
    let drill = env.json(&["verify", &id])["drills"][0].clone();
    assert_eq!(drill["problems"].as_array().unwrap().len(), 0, "the drill's counts and content hashes match: {drill}");
    let copy = env.path("copy.db");
    env.ok(&["restore", &id, "--to", copy.to_str().unwrap()]);
    assert_eq!([count(&copy, "a") as u64, count(&copy, "b") as u64], [rows[0], rows[1]]);
}

/// The ids the application's writer committed, one row per transaction into `log`, while
/// `during` ran; the writer keeps going until `during` returns, retrying a transaction the
/// restore held off (as an application with a busy timeout does).
fn commits_while(db: &std::path::Path, during: impl FnOnce()) -> Vec<i64> {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    };
    let (stop, committed) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let writer = {
        let (db, stop, committed) = (db.to_path_buf(), stop.clone(), committed.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(60)).unwrap();
            let mut next = 1_000_000;
            while !stop.load(Ordering::SeqCst) {
                next += 1;
                // A failed transaction was not committed: it is not counted (and is retried
                // under a new id, as an application would).
                if conn.execute("INSERT INTO log(id, note) VALUES (?1, 'committed')", [next]).is_ok() {
                    committed.lock().unwrap().push(next);
                }
                // An application's pace: a writer that never lets go would starve every other
                // writer in rollback-journal mode (SQLite has no queue), the restore's too.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    while committed.lock().unwrap().is_empty() {
        std::thread::yield_now();
    }
    during();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    Arc::try_unwrap(committed).unwrap().into_inner().unwrap()
}

fn ids(db: &std::path::Path) -> std::collections::BTreeSet<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM log").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Regression: a writer committing while `restore --yes` replaced its database lost the
/// commits made between the safety backup and the swap (65 to 90 per run): they were in
/// neither the safety backup nor the result. Now the restore holds the write lock from the
/// safety backup to the swap, so every commit is in one of them; both journal modes, whole
/// and one-table restores.
#[test]
fn a_restore_over_a_database_being_written_loses_no_commit() {
    for (mode, table) in [("wal", None), ("delete", None), ("wal", Some("log")), ("delete", Some("log"))] {
        eprintln!("journal mode {mode}, table {table:?}");
        let env = Env::new();
        let db = env.path("app.db");
        sql(
            &db,
            &format!(
                "PRAGMA journal_mode={mode};
                 CREATE TABLE log(id INTEGER PRIMARY KEY, note TEXT);
                 CREATE TABLE filler(id INTEGER PRIMARY KEY, v BLOB);
                 WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000) INSERT INTO filler SELECT n, randomblob(1000) FROM g;
                 INSERT INTO log VALUES (1, 'in the backup');"
            ),
        );
        let snapshot = env.backup(&db, &[]);
        let target = db.to_str().unwrap();
        let mut args = vec!["restore", &snapshot, "--to", target, "--yes"];
        if let Some(table) = table {
            args.extend(["--table", table]);
        }
        let mut report = serde_json::Value::Null;
        let committed = commits_while(&db, || report = env.json(&args));
        let safety = report["safety_backup"]["id"].as_str().unwrap_or_else(|| panic!("{mode} {table:?}: {report}")).to_string();
        let kept = env.path("kept.db");
        env.ok(&["restore", &safety, "--to", kept.to_str().unwrap()]);
        let (in_safety, in_result) = (ids(&kept), ids(&db));
        let lost: Vec<&i64> = committed.iter().filter(|id| !in_safety.contains(id) && !in_result.contains(id)).collect();
        assert!(committed.len() > 10, "{mode} {table:?}: the writer committed during the restore ({})", committed.len());
        assert!(lost.is_empty(), "{mode} {table:?}: {} of {} commits lost: {lost:?}", lost.len(), committed.len());
        assert!(in_result.contains(&1), "{mode} {table:?}: the backup's row came back");
        assert!(in_safety.iter().filter(|id| **id > 1_000_000).count() > 0, "{mode} {table:?}: the safety copy holds commits");
        std::fs::remove_file(&kept).unwrap();
    }
}

/// Regression: `restore latest` without `--db` restored the newest backup of the whole
/// repository, another database's, over the target.
#[test]
fn restore_latest_means_the_targets_own_database_or_refuses() {
    let env = Env::new();
    let (app, other) = (env.path("app.db"), env.path("other.db"));
    small_db(&app);
    sql(&other, "CREATE TABLE unrelated(x); INSERT INTO unrelated VALUES ('not app');");
    env.backup(&app, &[]);
    sql(&app, "INSERT INTO users VALUES (9, 'after the backup');");
    env.backup(&other, &[]); // the newest backup in the repository is other's

    let report = env.json(&["restore", "latest", "--to", app.to_str().unwrap(), "--yes"]);
    assert_eq!(report["plan"]["snapshot"]["database"], "app", "{report}");
    assert_eq!(count(&app, "users"), 3, "app's own latest backup came back");

    // A new file has no identity in the repository: which database is meant cannot be known.
    let fresh = env.path("fresh.db");
    let err = env.fails(&["restore", "latest", "--to", fresh.to_str().unwrap(), "--yes"], 2);
    assert!(err.contains("--db") && err.contains("app") && err.contains("other"), "{err}");
    assert!(!fresh.exists(), "nothing was created");
    env.ok(&["restore", "latest", "--db", "other", "--to", fresh.to_str().unwrap()]);
    assert_eq!(count(&fresh, "unrelated"), 1);
    // Commands without a target take the repository's newest backup, and say whose it is.
    let exported = env.run(&["export", "latest", "--format", "sql", "-o", env.path("x.sql").to_str().unwrap()]);
    assert!(text(&exported.stderr).contains("of `other`"), "{}", text(&exported.stderr));
    assert!(env.ok(&["show", "latest"]).contains("of sqlite `other`"));
    assert!(env.ok(&["verify", "latest"]).contains("(`other`,"));
}

/// The README's stock-restic recipes, run as written (the paths aside) in a repository that
/// holds two databases, `app` backed up before `other`: each gives back app's backup.
#[test]
fn the_readmes_restic_recipes_work_in_a_repository_of_several_databases() {
    let env = Env::new();
    let (app, other) = (env.path("app.db"), env.path("other.db"));
    small_db(&app);
    sql(&other, "CREATE TABLE unrelated(x);");
    env.backup(&app, &[]);
    env.backup(&other, &[]);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = &readme[readme.find("## Escape hatch: stock restic").unwrap()..];
    let block = &section[section.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let work = env.path("recipes");
    std::fs::create_dir(&work).unwrap();
    let script: String = block
        .lines()
        .filter(|l| l.starts_with("restic "))
        .map(|l| l.replace("/path/to/repo", env.repo.to_str().unwrap()).replace("/tmp/r", work.join("r").to_str().unwrap()) + "\n")
        .collect();
    assert_eq!(script.lines().count(), 6, "{script}");
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("RESTIC_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "the recipes failed: {}", text(&out.stderr));
    assert_eq!(dump(&work.join("app.db")), dump(&app), "restic dump gave app's database");
    assert_eq!(dump(&work.join("r/sqlite/app/database.sqlite")), dump(&app), "restic restore gave app's streams");
    assert!(
        text(&out.stdout).contains("\"database\": \"app\"") || text(&out.stdout).contains("\"database\":\"app\""),
        "the manifest is app's"
    );
}

/// Regression: Ctrl-C while a restore took its safety backup left `<db>.lifeboat-kept-<time>`
/// beside the target and said nothing. Now it stops, removes what it made (the staged copy),
/// changes nothing, says so, and the job log calls it interrupted.
#[test]
fn ctrl_c_during_a_restores_safety_backup_leaves_nothing_behind() {
    let env = Env::new();
    let db = env.path("app.db");
    big_db(&db, 40);
    let id = env.backup(&db, &[]);
    sql(&db, "UPDATE t SET v = randomblob(1000);"); // the safety backup has 40 MB of new data to store
    let before = sha256_hex(&std::fs::read(&db).unwrap());
    let packs = walk(&env.repo.join("data")).len();
    let state = env.path("state");
    let mut restore = env
        .cmd(&["restore", &id, "--to", db.to_str().unwrap(), "--yes"])
        .env("LIFEBOAT_STATE_DIR", &state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The safety backup is under way once it stores its first new pack.
    wait_until(&mut restore, "the safety backup storing data", || walk(&env.repo.join("data")).len() > packs);
    // Frozen where it was seen, so that Ctrl-C lands in the safety backup, not after it.
    signal(&restore, "STOP");
    signal(&restore, "INT");
    signal(&restore, "CONT");
    let out = restore.wait_with_output().unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("interrupted") && said.contains("nothing was changed"), "{said}");
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lifeboat-kept") || n.contains("lifeboat-partial"))
        .collect();
    assert!(left.is_empty(), "left beside the target: {left:?}");
    assert_eq!(sha256_hex(&std::fs::read(&db).unwrap()), before, "the target is as it was");
    let log = env.cmd(&["log", "--json"]).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    let jobs: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let job = jobs["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "restore").cloned().unwrap_or_default();
    assert_eq!(job["status"], "interrupted", "{jobs}");
    assert!(job["error"].as_str().unwrap().contains("nothing was changed"), "{job}");
}
