//! Secrets stay secret, and what lifeboat writes is nobody else's to read.
//!
//! A PostgreSQL password inside the database URL (as `.env` files and managed providers give
//! it) is used to connect and for drills, and is found in no output, file, alert, job-log row
//! or process command line; repositories and state directories are private.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use common::{
    Env,
    daemon::{Daemon, count, write_config},
    pg::Cluster,
    walk,
    webhook::Receiver,
};

const SECRET: &str = "Pw-in-the-URL-7f3a9";

/// Every process's command line, read until `stop`: the secret must be in none.
fn watch_command_lines(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut seen, mut leaks) = (0, Vec::new());
        while !stop.load(Ordering::SeqCst) {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(line) = std::fs::read(entry.path().join("cmdline")) {
                    let line = String::from_utf8_lossy(&line).replace('\0', " ");
                    seen += usize::from(line.contains("pg_dump") || line.contains("psql"));
                    if line.contains(SECRET) {
                        leaks.push(line);
                    }
                }
            }
        }
        (seen, leaks)
    })
}

/// A drill of shop that ran (not one skipped for want of a backup).
fn drilled(job: &serde_json::Value) -> bool {
    job["database"] == "shop" && job["kind"] == "drill" && (job["status"] == "ok" || job["status"] == "failed")
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the password leaked into {what}:\n{text}");
}

#[test]
fn a_password_in_a_database_url_is_used_but_never_shown() {
    let env = Env::new();
    let pg = Cluster::start();
    pg.sql("postgres", &format!("CREATE ROLE app LOGIN CREATEDB PASSWORD '{SECRET}'"));
    pg.sql("postgres", "CREATE DATABASE shop OWNER app");
    pg.script("shop", "SET ROLE app; CREATE TABLE items(id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;");
    let url = |db: &str| format!("postgresql://app:{SECRET}@127.0.0.1:{}/{db}", pg.port);
    let (hooks, hook_port) = Receiver::start();
    let config = write_config(
        &env,
        &format!(
            r#"[alerts]
webhook = [{{ url = "http://127.0.0.1:{hook_port}/hook", format = "json" }}]

[[databases]]
name = "shop"
url = "{}"
[databases.schedule]
hourly = "*/2 * * * * *"
drill = "*/3 * * * * *"

[[databases]]
name = "gone"
url = "{}"
[databases.schedule]
hourly = "*/2 * * * * *"
"#,
            url("shop"),
            url("no_such_database")
        ),
    );
    let config_arg = config.to_str().unwrap();
    let mut outputs = Vec::new();
    let checked = env.run(&["config", "check", config_arg]);
    outputs.push(("config check", common::text(&checked.stdout) + &common::text(&checked.stderr)));
    // `gone` names a database that does not exist: a problem, said without the password.
    assert_eq!(checked.status.code(), Some(1), "{}", outputs[0].1);
    assert!(outputs[0].1.contains("database `gone`") && outputs[0].1.contains("app@127.0.0.1"), "{}", outputs[0].1);
    let checked_json = env.run(&["config", "check", config_arg, "--json"]);
    outputs.push(("config check --json", common::text(&checked_json.stdout)));

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_command_lines(stop.clone());
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("a backup and a drill of shop, a failed backup of gone, and an alert", |_, jobs| {
        count(jobs, "shop", "backup", "ok") >= 1
            && jobs.iter().any(drilled)
            && count(jobs, "gone", "backup", "failed") >= 1
            && !hooks.on("/hook").is_empty()
    });
    // Regression: the drill's scratch database lost the password, and the drill then blamed
    // the backup ("streams' sha256 match: NO").
    let jobs = common::daemon::jobs(&config);
    let drill = jobs.iter().find(|j| drilled(j)).unwrap();
    assert_eq!(drill["status"], "ok", "a drill on the configured server, with its password: {drill}");
    daemon.signal("TERM");
    daemon.wait_exit();
    stop.store(true, Ordering::SeqCst);
    let (client_tools_seen, leaks) = watcher.join().unwrap();
    assert!(client_tools_seen > 0, "the watcher saw the client tools run");
    assert!(leaks.is_empty(), "the password was on a command line: {leaks:?}");

    // A person's commands with the configuration: a backup by the configured name (no URL to
    // type), a drill, and every report.
    let by_name = env.run(&["backup", "shop", "--config", config_arg, "--reason", "by name"]);
    assert!(by_name.status.success(), "{}", common::text(&by_name.stderr));
    outputs.push(("backup by name", common::text(&by_name.stdout) + &common::text(&by_name.stderr)));
    let verify = env.run(&["verify", "latest", "--db", "shop", "--config", config_arg]);
    let verify_text = common::text(&verify.stdout) + &common::text(&verify.stderr);
    assert!(verify.status.success() && verify_text.contains("match the manifest: yes"), "{verify_text}");
    outputs.push(("verify", verify_text));
    // A restore into a new database, named by a URL with the password in it.
    let restore = env.run(&["restore", "latest", "--db", "shop", "--to", &url("shop_copy"), "--config", config_arg, "--yes"]);
    assert!(restore.status.success(), "{}", common::text(&restore.stderr));
    outputs.push(("restore", common::text(&restore.stdout) + &common::text(&restore.stderr)));
    // Each job's request is in the log (the restore's target among them), without the password.
    let logged = common::daemon::jobs(&config);
    let backup = logged.iter().rev().find(|j| j["kind"] == "backup" && j["reason"] == "by name").expect("the backup by name");
    assert_eq!((&backup["request"]["database"], &backup["request"]["request"]["reason"]), (&"shop".into(), &"by name".into()), "{backup}");
    let restored = logged.iter().rev().find(|j| j["kind"] == "restore").expect("the restore is logged");
    let target = restored["request"]["target"].as_str().unwrap();
    assert!(target.contains("shop_copy") && target.contains("app@127.0.0.1"), "{restored}");
    for args in [
        vec!["health", "--config", config_arg],
        vec!["health", "--config", config_arg, "--json"],
        vec!["log", "--config", config_arg, "--json"],
        vec!["log", "--config", config_arg],
        vec!["snapshots", "--config", config_arg, "--json"],
        vec!["show", "latest", "--db", "shop", "--config", config_arg],
        vec!["stats", "--config", config_arg, "--json"],
    ] {
        let out = env.run(&args);
        outputs.push(("a report", common::text(&out.stdout) + &common::text(&out.stderr)));
    }
    let health = &outputs.iter().find(|(_, text)| text.contains("\"findings\"")).expect("health --json").1;
    assert!(health.contains("no_such_database") || health.contains("gone"), "{health}");
    assert!(health.contains("lifeboat backup --config FILE gone"), "the hint names the database, not its URL: {health}");
    outputs.push(("the daemon's event lines", daemon.events()));
    for body in hooks.on("/hook") {
        outputs.push(("a webhook alert", body.to_string()));
    }
    for (what, text) in &outputs {
        assert_no_secret(what, text);
    }
    // Every file lifeboat wrote: the state directory (job log rows, health.json) and the
    // repository (whose files are encrypted, so only plain text there could leak).
    for file in walk(&env.path("state")).into_iter().chain(walk(&env.repo)) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "the password is in {}", file.display());
    }
}

#[test]
fn a_drill_that_cannot_reach_its_scratch_server_says_why_and_gives_no_checksum_verdict() {
    let env = Env::new();
    let pg = Cluster::start();
    pg.sql("postgres", "CREATE ROLE app LOGIN CREATEDB PASSWORD 'right'");
    pg.sql("postgres", "CREATE DATABASE shop OWNER app");
    pg.sql("shop", "SET ROLE app; CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    env.backup_url(&format!("postgresql://app:right@127.0.0.1:{}/shop", pg.port), &[]);
    let scratch = format!("postgresql://app:wrong@127.0.0.1:{}/lifeboat_scratch_test", pg.port);
    let out = env.run(&["verify", "latest", "--scratch", &scratch]);
    let said = common::text(&out.stdout) + &common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("could not run") && said.contains("password authentication failed"), "{said}");
    assert!(said.contains("not checked") && !said.contains("match the manifest: NO"), "{said}");
    let json = env.run(&["verify", "latest", "--scratch", &scratch, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(report["drills"][0]["image_matches"].is_null(), "{report}");
    assert!(!said.contains("wrong"), "the scratch URL's password is not shown: {said}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn repositories_and_state_directories_are_readable_by_their_owner_only() {
    let env = Env::new();
    let db = env.path("app.db");
    common::small_db(&db);
    let state = env.path("state");
    let mut backup = env.cmd(&["backup", db.to_str().unwrap()]);
    let out = backup.env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    env.ok(&["key", "add", "--new-password-file", write_password(&env).to_str().unwrap()]);

    let mut folders = vec![env.repo.clone()];
    let mut files = Vec::new();
    collect(&env.repo, &mut folders, &mut files);
    assert!(files.len() > 4, "{files:?}");
    for folder in &folders {
        assert_eq!(mode(folder), 0o700, "{}", folder.display());
    }
    for file in &files {
        let expected = if file.parent().unwrap().ends_with("keys") { 0o400 } else { 0o600 };
        assert_eq!(mode(file), expected, "{}", file.display());
    }
    assert_eq!(files.iter().filter(|f| f.parent().unwrap().ends_with("keys")).count(), 2, "both keys were checked");
    // Stock restic still reads it all.
    env.restic(&["check"]);

    assert_eq!(mode(&state), 0o700);
    for file in walk(&state) {
        assert_eq!(mode(&file) & 0o077, 0, "{} is readable by others", file.display());
    }
}

fn write_password(env: &Env) -> std::path::PathBuf {
    let path = env.path("second-password");
    std::fs::write(&path, "a second password\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn collect(dir: &Path, folders: &mut Vec<std::path::PathBuf>, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            folders.push(path.clone());
            collect(&path, folders, files);
        } else {
            files.push(path);
        }
    }
}
