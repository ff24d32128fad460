//! Mirrors: `lifeboat copy` sends backups to a second repository with its own password, only
//! what it lacks; the mirror alone restores, verifies and checks, with lifeboat and restic.

mod common;

use common::{
    Env, dump,
    json_doc::{assert_shape, table},
    small_db, sql, text, two_backups,
};

const MIRROR_PASSWORD: &str = "the mirror's own password";

#[test]
fn a_mirror_gets_only_what_it_lacks_and_restores_alone() {
    let env = Env::new();
    let (db, _, _) = two_backups(&env);
    let mirror = env.path("mirror");
    std::fs::write(env.path("mirror-password"), format!("{MIRROR_PASSWORD}\n")).unwrap();
    std::fs::set_permissions(env.path("mirror-password"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = env.cmd(&["init", "--repo", mirror.to_str().unwrap()]).env("LIFEBOAT_PASSWORD", MIRROR_PASSWORD).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let to = ["--to", mirror.to_str().unwrap(), "--to-password-file", "mirror-password"];

    let first = env.json(&[&["copy", "--all"][..], &to].concat());
    assert_shape(&first, &table("`lifeboat copy`", 0), "copy");
    assert_eq!((first["copied"].as_array().unwrap().len(), first["present"].as_array().unwrap().len()), (2, 0), "{first}");
    let again = env.json(&[&["copy", "--all"][..], &to].concat());
    assert_eq!((again["copied"].as_array().unwrap().len(), again["present"].as_array().unwrap().len()), (0, 2), "idempotent: {again}");

    sql(&db, "INSERT INTO users VALUES (5, 'edsger');");
    let newest = env.backup(&db, &[]);
    let one = env.json(&[&["copy", "latest", "--db", "app"][..], &to].concat());
    assert_eq!(one["copied"], serde_json::json!([newest]));
    let expected = dump(&db);

    // A wrong mirror password copies nothing and says so.
    std::fs::write(env.path("wrong"), "not it\n").unwrap();
    std::fs::set_permissions(env.path("wrong"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = env.fails(&["copy", "--all", "--to", mirror.to_str().unwrap(), "--to-password-file", "wrong"], 1);
    assert!(err.contains("password does not open") && err.contains("hint:"), "{err}");

    // The primary is gone: the mirror alone lists, restores, drills and checks.
    std::fs::rename(&env.repo, env.path("primary-gone")).unwrap();
    let at_mirror = |args: &[&str]| {
        let out = env.cmd(args).env("LIFEBOAT_REPO", &mirror).env("LIFEBOAT_PASSWORD", MIRROR_PASSWORD).arg("--json").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let listed = at_mirror(&["snapshots"]);
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 3);
    assert_eq!(listed["snapshots"][2]["rows"], 8, "totals come from the copied manifest: {listed}");
    let restored = env.path("restored.db");
    at_mirror(&["restore", "latest", "--db", "app", "--to", restored.to_str().unwrap()]);
    assert_eq!(dump(&restored), expected);
    assert_eq!(at_mirror(&["verify", "--all"])["ok"], true);
    assert_eq!(at_mirror(&["check", "--read-data"])["ok"], true);

    // Stock restic reads the mirror with its own password.
    let out = common::restic(&mirror, MIRROR_PASSWORD).args(["check", "--read-data"]).output().unwrap();
    assert!(out.status.success(), "restic check of the mirror: {}", text(&out.stderr));
}

#[test]
fn the_daemon_copies_every_backup_to_a_mirror_that_catches_up_after_being_down() {
    use common::daemon::{Daemon, count, jobs, write_config};
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let mirror = env.path("mirror");
    std::fs::write(env.path("mirror-password"), format!("{MIRROR_PASSWORD}\n")).unwrap();
    std::fs::set_permissions(env.path("mirror-password"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = write_config(
        &env,
        &format!(
            "[[mirrors]]\nurl = \"{}\"\npassword_file = \"mirror-password\"\n\n[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n[databases.retention]\nhourly = 3\n",
            mirror.display()
        ),
    );
    let config_arg = config.to_str().unwrap();

    // The mirror does not exist yet: backups go on, the copies fail, health says so.
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("backups while the mirror is down", |_, jobs| {
        count(jobs, "app", "backup", "ok") >= 2 && jobs.iter().any(|j| j["kind"] == "copy" && j["status"] == "failed")
    });
    let out = env.run(&["health", "--json", "--config", config_arg]);
    assert_eq!(out.status.code(), Some(1), "a mirror down is a warning");
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = health["findings"].as_array().unwrap().iter().find(|f| f["check"] == "mirror").cloned().unwrap_or_default();
    assert!(finding["message"].as_str().unwrap_or_default().contains("cannot be read"), "{health}");
    assert_eq!(health["mirrors"][0]["reachable"], false);

    // It comes up: the next round copies everything it missed and applies retention there.
    let out = env.cmd(&["init", "--repo", mirror.to_str().unwrap()]).env("LIFEBOAT_PASSWORD", MIRROR_PASSWORD).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    daemon.wait_for("a copy to the mirror", |_, jobs| jobs.iter().any(|j| j["kind"] == "copy" && j["status"] == "ok"));
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    let log = jobs(&config);
    let copy = log.iter().find(|j| j["kind"] == "copy" && j["status"] == "ok").unwrap();
    assert_eq!(copy["repository"].as_str(), Some(mirror.to_str().unwrap()));
    assert!(log.iter().any(|j| j["kind"] == "forget" && j["repository"] == copy["repository"]), "retention runs on the mirror too");

    let at_mirror = |args: &[&str]| {
        let out = env.cmd(args).env("LIFEBOAT_REPO", &mirror).env("LIFEBOAT_PASSWORD", MIRROR_PASSWORD).arg("--json").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let mirrored = at_mirror(&["snapshots"])["snapshots"].as_array().unwrap().len();
    assert!((1..=4).contains(&mirrored), "hourly = 3 (and a backup taken after the last retention): {mirrored}");
    let restored = env.path("from-mirror.db");
    at_mirror(&["restore", "latest", "--db", "app", "--to", restored.to_str().unwrap()]);
    assert_eq!(dump(&restored), dump(&db));
    let out = env.run(&["health", "--json", "--config", config_arg]);
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["mirrors"][0]["reachable"], true, "{health}");
    assert!(health["mirrors"][0]["newest"]["app"].is_string(), "{health}");
}

/// A mirror whose disk fills up: the copy fails and says so, the primary is untouched, and
/// the mirror holds only whole snapshots (its check passes).
#[test]
fn a_copy_to_a_full_mirror_fails_clearly_and_leaves_both_repositories_whole() {
    let env = Env::new();
    let small = env.path("small.db");
    small_db(&small);
    env.backup(&small, &[]);
    let big = env.path("big.db");
    sql(
        &big,
        "CREATE TABLE t(x BLOB); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 40) INSERT INTO t SELECT randomblob(100000) FROM g;",
    );
    env.backup(&big, &[]);
    std::fs::write(env.path("mirror-password"), format!("{MIRROR_PASSWORD}\n")).unwrap();
    let mirror = env.path("small-disk");
    std::fs::create_dir(&mirror).unwrap();
    let script = r#"
        set -u
        mount -t tmpfs -o size=2m tmpfs "$MIRROR" || exit 90
        LIFEBOAT_PASSWORD="$MIRROR_PASSWORD" "$LB" init --repo "$MIRROR" >/dev/null || exit 91
        "$LB" copy --all --to "$MIRROR" --to-password-file mirror-password 2>copy.err; echo "$?" >copy.code
        LIFEBOAT_PASSWORD="$MIRROR_PASSWORD" "$LB" snapshots --repo "$MIRROR" --json >mirror.json || exit 92
        LIFEBOAT_PASSWORD="$MIRROR_PASSWORD" "$LB" check --repo "$MIRROR" >check.out 2>&1; echo "$?" >check.code
    "#;
    let read =
        common::in_mount_namespace(&env, &env.repo, script, &[("MIRROR", mirror.to_str().unwrap()), ("MIRROR_PASSWORD", MIRROR_PASSWORD)]);
    assert_eq!(read("copy.code").trim(), "1");
    let err = read("copy.err");
    assert!(err.contains("disk is full"), "{err}");
    let mirrored: serde_json::Value = serde_json::from_str(&read("mirror.json")).unwrap();
    assert!(mirrored["snapshots"].as_array().unwrap().len() < 2, "the big backup is not on the mirror: {mirrored}");
    assert_eq!(read("check.code").trim(), "0", "the mirror holds only whole snapshots: {}", read("check.out"));
    assert_eq!(env.snapshot_count(), 2, "the primary is untouched");
    env.ok(&["check", "--read-data"]);
}
