//! Bad input and faults: a clear error, a non-zero exit, and nothing changed.

mod common;

use common::*;

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let env = Env::new();
    let err = env.fails(&["backup", "missing.db"], 1);
    assert!(err.contains("does not exist"), "{err}");

    std::fs::write(env.path("notes.txt"), "not a database at all, just text").unwrap();
    let err = env.fails(&["backup", "notes.txt"], 1);
    assert!(err.contains("not a SQLite database"), "{err}");

    let err = env.fails(&["backup", env.dir.path().to_str().unwrap()], 1);
    assert!(err.contains("folder"), "{err}");
    assert_eq!(env.snapshot_count(), 0);

    let db = env.path("app.db");
    small_db(&db);
    let err = env.fails(&["show", "deadbeef"], 2);
    assert!(err.contains("no snapshot"), "{err}");
    let err = env.fails(&["show", "latest"], 2);
    assert!(err.contains("no backup"), "{err}");
    let err = env.fails(&["backup", "app.db", "--class", "often"], 2);
    assert!(err.contains("not a backup class"), "{err}");
}

#[test]
fn an_unreadable_file_is_refused() {
    let env = Env::new();
    let db = env.path("secret.db");
    sql(&db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = if is_root() {
        run_as_nobody(&env, &["backup", db.to_str().unwrap()])
    } else {
        std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        env.run(&["backup", db.to_str().unwrap()])
    };
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("permission denied reading") && err.contains("secret.db"), "{err}");
}

#[test]
fn repository_problems_are_named() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let out = env.cmd(&["snapshots"]).env("LIFEBOAT_PASSWORD", "wrong").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("password"), "{}", text(&out.stderr));

    let out = env.cmd(&["snapshots"]).env("LIFEBOAT_REPO", env.path("nowhere")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));

    std::fs::create_dir(env.path("empty")).unwrap();
    let out = env.cmd(&["backup", "app.db"]).env("LIFEBOAT_REPO", env.path("empty")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a lifeboat repository"), "{}", text(&out.stderr));

    // init never writes over an existing repository.
    let err = env.fails(&["init"], 1);
    assert!(err.contains("already holds a repository"), "{err}");
}

#[test]
fn an_ambiguous_prefix_lists_the_candidates() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    // 17 snapshots share at least one first hex digit (pigeonhole).
    let ids: Vec<String> = (0..17).map(|_| env.backup(&db, &[])).collect();
    let digit = (0..16).map(|d| format!("{d:x}")).find(|d| ids.iter().filter(|id| id.starts_with(d.as_str())).count() > 1).unwrap();
    let err = env.fails(&["show", &digit], 2);
    assert!(err.contains("matches") && err.contains("more digits"), "{err}");
}

#[test]
fn a_damaged_pack_is_found_and_the_affected_snapshots_named() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    sql(&db, "CREATE TABLE blobs(b BLOB); INSERT INTO blobs VALUES (randomblob(2000000));");
    let first = env.backup(&db, &[]);
    let other = env.path("other.db");
    small_db(&other);
    sql(&other, "CREATE TABLE x(b BLOB); INSERT INTO x VALUES (randomblob(500000));");
    let unaffected = env.backup(&other, &[]);

    // Flip bytes in the largest pack: the one with the 2 MB blob of the first backup.
    let mut packs: Vec<_> = walk(&env.repo.join("data"));
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let target = packs.last().unwrap();
    let mut bytes = std::fs::read(target).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(target, bytes).unwrap();

    let out = env.run(&["check", "--read-data", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let affected: Vec<&str> = report["affected_snapshots"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(affected.contains(&first.as_str()), "{report}");
    assert!(!affected.contains(&unaffected.as_str()), "{report}");

    let out = env.run(&["verify", &first[..8]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("FAILED"));
    env.ok(&["verify", &unaffected[..8]]);
}

#[test]
fn ctrl_c_stops_a_backup_cleanly() {
    let env = Env::new();
    let db = env.path("big.db");
    sql(
        &db,
        "CREATE TABLE t(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 400) INSERT INTO t SELECT randomblob(500000) FROM n;",
    );
    let mut child = env.cmd(&["backup", "big.db"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_until(&mut child, "a pack was being written", || partial_packs(&env));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("interrupted"), "{}", text(&out.stderr));
    assert_eq!(env.snapshot_count(), 0);
    assert!(lock_files(&env).is_empty(), "an interrupted backup releases its lock");
    env.ok(&["check"]);
}

#[test]
fn forget_keeps_by_rule_prunes_and_keeps_restoring() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            sql(&db, &format!("INSERT INTO users VALUES ({}, 'u')", 10 + i));
            env.backup(&db, &[])
        })
        .collect();
    let other = env.path("other.db");
    small_db(&other);
    env.backup(&other, &[]);

    let dry = env.json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(env.snapshot_count(), 4);
    let err = env.fails(&["forget", "--keep-last", "1"], 1);
    assert!(err.contains("--yes"), "{err}");

    let out = env.ok(&["forget", "--keep-last", "1", "--prune", "--yes"]);
    assert!(out.contains("keep    (last 1/1)"), "{out}");
    assert!(out.contains("remove"), "{out}");
    let left: Vec<String> =
        env.json(&["snapshots"])["snapshots"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(left.len(), 2, "the newest of each database stays");
    assert!(left.contains(&ids[2]));
    env.ok(&["check", "--read-data"]);
    env.ok(&["verify", "latest", "--db", "app"]);
}

/// A repository whose disk fills up mid-backup: a clear error naming the full disk, exit 1, no
/// snapshot, and the backups already there stay intact and checkable. The small disk is a
/// 2 MiB tmpfs mounted in a private mount namespace (unshare), so nothing leaks to the host.
#[test]
fn a_full_repository_disk_is_named_and_loses_nothing() {
    let env = Env::new();
    let small = env.path("small.db");
    small_db(&small);
    let big = env.path("big.db");
    sql(
        &big,
        "CREATE TABLE t(x BLOB); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 40) INSERT INTO t SELECT randomblob(100000) FROM g;",
    );
    let disk = env.path("small-disk");
    std::fs::create_dir(&disk).unwrap();
    let script = r#"
        set -u
        mount -t tmpfs -o size=2m tmpfs "$LIFEBOAT_REPO" || exit 90
        "$LB" init >/dev/null || exit 91
        "$LB" backup small.db >/dev/null || exit 92
        "$LB" backup big.db 2>big.err; echo "$?" >big.code
        "$LB" snapshots --json >after.json || exit 93
        "$LB" check --read-data >check.out 2>&1; echo "$?" >check.code
    "#;
    let read = in_mount_namespace(&env, &disk, script, &[]);
    assert_eq!(read("big.code").trim(), "1");
    let err = read("big.err");
    assert!(err.contains("disk is full") && err.contains("no snapshot was written"), "{err}");
    assert!(!err.contains("Backtrace"), "the error is one readable paragraph, not rustic's report:\n{err}");
    let after: serde_json::Value = serde_json::from_str(&read("after.json")).unwrap();
    assert_eq!(after["snapshots"].as_array().unwrap().len(), 1, "only the earlier backup is visible");
    assert_eq!(read("check.code").trim(), "0", "{}", read("check.out"));
}

/// Regression: a restore onto a full disk said the *repository's* disk was full. It names the
/// target's folder with its free space, says the repository is fine, and changes nothing.
#[test]
fn a_full_target_disk_is_named_as_the_targets() {
    let env = Env::new();
    let db = env.path("big.db");
    big_db(&db, 4);
    env.backup(&db, &[]);
    let disk = env.path("small-disk");
    std::fs::create_dir(&disk).unwrap();
    let script = r#"
        set -u
        mount -t tmpfs -o size=2m tmpfs small-disk || exit 90
        "$LB" restore latest --to small-disk/app.db 2>restore.err; echo "$?" >restore.code
        ls -A small-disk >left.txt
    "#;
    let read = in_mount_namespace(&env, &env.repo, script, &[]);
    assert_eq!(read("restore.code").trim(), "1");
    let err = read("restore.err");
    assert!(
        err.contains(
            "the disk of the folder the restored copy is written to (the target's, or a drill's scratch folder) small-disk is full"
        ) && err.contains("MiB free of 2 MiB"),
        "{err}"
    );
    assert!(!err.contains("repository's disk"), "{err}");
    assert_eq!(read("left.txt").trim(), "", "the partial copy was removed");
}

/// A WAL database with no `-shm` file, in a folder the backup user may not write: SQLite
/// cannot read it safely, and the error says why and what to do instead of "readonly database".
#[test]
fn a_wal_database_in_a_folder_we_cannot_write_is_explained() {
    let env = Env::new();
    let folder = env.path("app-data");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("app.db");
    small_db(&db);
    assert!(!folder.join("app.db-shm").exists(), "the last connection removed the -shm file");
    let out = if is_root() {
        run_as_nobody(&env, &["backup", db.to_str().unwrap()])
    } else {
        std::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        env.run(&["backup", db.to_str().unwrap()])
    };
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("-shm") && err.contains("owner"), "{err}");
}

#[test]
fn errors_under_json_are_json_and_a_readable_password_file_is_named() {
    let env = Env::new();
    let out = env.run(&["show", "deadbeef", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the error is JSON on stdout");
    assert_eq!(error["error"]["kind"], "usage");
    assert_eq!(error["error"]["exit_code"], 2);
    assert!(error["error"]["message"].as_str().unwrap().contains("no snapshot"), "{error}");
    assert!(!error["error"]["hint"].as_str().unwrap().is_empty(), "{error}");

    let file = env.path("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = env.run(&["snapshots", "--password-file", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("can be read by others (mode 0644)"), "{}", text(&out.stderr));
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = env.run(&["snapshots", "--password-file", file.to_str().unwrap()]);
    assert!(out.status.success() && !text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
}

/// A lost index file makes every blob of a stream unreadable: `check` says so once per stream,
/// with how many, not once per blob (`--json` still lists every finding).
#[test]
fn check_groups_the_blobs_of_one_stream() {
    let env = Env::new();
    let db = env.path("app.db");
    sql(&db, "CREATE TABLE b(x BLOB); INSERT INTO b VALUES (randomblob(3000000));");
    env.backup(&db, &[]);
    let mut indexes = walk(&env.repo.join("index"));
    indexes.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    std::fs::remove_file(indexes.last().unwrap()).unwrap();

    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let image: Vec<&str> = report.lines().filter(|l| l.contains("database.sqlite")).collect();
    assert_eq!(image.len(), 1, "{report}");
    let times: usize = image[0].split(" (").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(times > 5, "{report}");
    let json: serde_json::Value = serde_json::from_slice(&env.run(&["check", "--json"]).stdout).unwrap();
    let listed = json["findings"].as_array().unwrap().iter().filter(|f| f["message"].as_str().unwrap().contains("database.sqlite")).count();
    assert_eq!(listed, times);
}
