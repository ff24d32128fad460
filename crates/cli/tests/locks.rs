//! Jobs side by side: a backup that reports success restores whatever runs at the same time,
//! and lifeboat and stock restic respect each other's locks (DESIGN.md decision 8).

mod common;

use std::process::Child;

use common::*;

fn finish(job: Child) -> std::process::Output {
    let out = job.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// The reproduction from the issue: a backup that deduplicates against data only an older
/// backup holds, while `forget --prune` removes that older backup.
#[test]
fn a_backup_running_while_prune_runs_still_restores() {
    let env = Env::new();
    let a = env.path("a.db");
    big_db(&a, 150);
    env.backup(&a, &[]);
    std::fs::copy(&a, env.path("clone.db")).unwrap();
    sql(&a, "UPDATE t SET v = randomblob(1000) WHERE id % 3 = 0;");
    env.backup(&a, &[]);

    let mut clone = env
        .cmd(&["backup", "clone.db", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut clone, "it was seen holding a lock", || !lock_files(&env).is_empty());
    let prune = env
        .cmd(&["forget", "--db", "a", "--keep-last", "1", "--prune", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(clone.try_wait().unwrap().is_none(), "the clone's backup was still running when the prune started");
    let pruned = finish(prune);
    assert!(text(&pruned.stdout).contains("pruned"), "{}", text(&pruned.stdout));
    finish(clone);

    env.ok(&["check", "--read-data"]);
    let out = env.ok(&["verify", "latest", "--db", "clone"]);
    assert!(out.contains("verify: OK"), "{out}");
    assert!(lock_files(&env).is_empty(), "every lock was released: {:?}", lock_files(&env));
}

#[test]
fn stock_restic_respects_lifeboats_locks() {
    let env = Env::new();
    let db = env.path("big.db");
    big_db(&db, 20);
    let mut backup =
        env.cmd(&["backup", "big.db"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_until(&mut backup, "it was seen holding a lock", || !lock_files(&env).is_empty());
    // Paused, the backup holds its lock (its process lives) for as long as restic needs.
    signal(&backup, "STOP");
    let out = common::restic(&env.url, PASSWORD).arg("prune").output().unwrap();
    signal(&backup, "CONT");
    assert!(!out.status.success(), "restic pruned while lifeboat was backing up");
    assert!(text(&out.stderr).contains("locked"), "{}", text(&out.stderr));
    finish(backup);
    env.ok(&["check", "--read-data"]);
}

#[test]
fn lifeboat_respects_restics_locks_and_names_the_holder() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &[]);
    env.backup(&db, &[]);
    // restic holds a shared lock while it reads its standard input.
    let mut restic = common::restic(&env.url, PASSWORD)
        .args(["backup", "--stdin", "--stdin-filename", "notes.txt"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut restic, "it was seen holding a lock", || !lock_files(&env).is_empty());
    let err = env.fails(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"], 1);
    assert!(err.contains("locked by a shared lock of pid") && err.contains(&restic.id().to_string()), "{err}");
    let mut stdin = restic.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"written by restic while lifeboat waited\n").unwrap();
    drop(stdin);
    finish(restic);
    env.ok(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"]);
    env.ok(&["check", "--read-data"]);
}

#[test]
fn the_lock_of_a_killed_process_is_removed_by_the_next_job() {
    let env = Env::new();
    let db = env.path("big.db");
    big_db(&db, 60);
    let mut backup =
        env.cmd(&["backup", "big.db"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_until(&mut backup, "it was seen holding a lock", || !lock_files(&env).is_empty());
    backup.kill().unwrap();
    backup.wait().unwrap();
    assert_eq!(lock_files(&env).len(), 1, "the killed backup left its lock");
    small_db(&env.path("app.db"));
    env.backup(&env.path("app.db"), &[]);
    env.ok(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"]);
    assert!(lock_files(&env).is_empty(), "{:?}", lock_files(&env));
}
