//! The daemon as a real process against real SQLite files and a throwaway PostgreSQL cluster,
//! with schedules every few seconds: what it backs up, keeps, logs and reports, and how it
//! stops, reloads and recovers.

mod common;

use std::collections::BTreeSet;

use common::{
    Env,
    daemon::{Daemon, count, jobs, write_config},
    json_doc::{assert_shape, table},
    pg::Cluster,
    sql,
};
use serde_json::Value;

fn ids(values: &[Value]) -> BTreeSet<String> {
    values.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

/// The snapshots of `database`, as listed.
fn snapshots_of(env: &Env, database: &str) -> Vec<Value> {
    env.json(&["snapshots"])["snapshots"].as_array().unwrap().iter().filter(|s| s["database"] == database).cloned().collect()
}

/// The CPU time process `pid` has used, user and system, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn classes(job: &Value) -> Vec<&str> {
    job["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect()
}

#[test]
fn scheduled_backups_carry_their_classes_share_snapshots_keep_by_class_and_are_logged() {
    let env = Env::new();
    let pg = Cluster::start();
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql("shop", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g");
    let app = env.path("app.db");
    sql(&app, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t (b) VALUES ('x'), ('y');");
    let config = write_config(
        &env,
        &format!(
            r#"
[[databases]]
name = "app"
url = "app.db"
[databases.schedule]
hourly = "*/2 * * * * *"
daily = "*/4 * * * * *"
drill = "*/3 * * * * *"
[databases.retention]
hourly = 3
daily = 2

[[databases]]
name = "shop"
url = "{}"
[databases.schedule]
hourly = "*/3 * * * * *"
drill = "*/4 * * * * *"
[databases.retention]
hourly = 2
"#,
            pg.url("shop")
        ),
    );
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("three shared hourly+daily backups, a drill and two PostgreSQL backups", |_, jobs| {
        let shared = jobs.iter().filter(|j| j["database"] == "app" && j["status"] == "ok" && classes(j) == ["hourly", "daily"]).count();
        shared >= 3
            && count(jobs, "app", "drill", "ok") >= 1
            && count(jobs, "shop", "backup", "ok") >= 2
            && count(jobs, "shop", "drill", "ok") >= 1
    });
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success(), "SIGTERM ends the daemon with exit 0:\n{}", daemon.events());
    let log = jobs(&config);

    // Classes due together share one snapshot, labelled with the longer-lived class.
    let snapshots = snapshots_of(&env, "app");
    let shared = snapshots.iter().find(|s| s["class"] == "daily").expect("a daily backup is kept");
    let tags: Vec<&str> = shared["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"hourly") && tags.contains(&"daily"), "{tags:?}");
    for job in log.iter().filter(|j| j["kind"] == "backup") {
        assert_eq!(job["trigger"], "schedule");
        assert!(job["status"] == "ok" || job["status"] == "interrupted", "{job}");
    }

    // Retention per class, as of the last retention that ran: the newest 3 hourly and the
    // newest 2 daily of the backups before it, and every backup taken after it.
    for (database, rules) in [("app", &[("hourly", 3usize), ("daily", 2)][..]), ("shop", &[("hourly", 2)])] {
        let last_forget = log.iter().rposition(|j| j["database"] == database && j["kind"] == "forget" && j["status"] == "ok").unwrap();
        let backups: Vec<&Value> =
            log[..last_forget].iter().filter(|j| j["database"] == database && j["kind"] == "backup" && j["status"] == "ok").collect();
        let mut expected: BTreeSet<String> = BTreeSet::new();
        for (class, n) in rules {
            expected.extend(
                backups.iter().rev().filter(|j| classes(j).contains(class)).take(*n).map(|j| j["snapshot"].as_str().unwrap().to_string()),
            );
        }
        expected.extend(
            log[last_forget..]
                .iter()
                .filter(|j| j["database"] == database && j["kind"] == "backup" && j["status"] == "ok")
                .map(|j| j["snapshot"].as_str().unwrap().to_string()),
        );
        assert_eq!(ids(&snapshots_of(&env, database)), expected, "{database}: what its class rules keep");
    }

    // The drills restored the newest backups and checked them; the job log says so, and the
    // PostgreSQL drill's temporary database is gone.
    assert!(!pg.databases().iter().any(|d| d.starts_with("lifeboat_verify")), "{:?}", pg.databases());
    let pg_drill = log.iter().find(|j| j["database"] == "shop" && j["kind"] == "drill" && j["status"] == "ok").unwrap();
    assert_eq!(pg_drill["rows"], 500, "{pg_drill}");
    let drill = log.iter().find(|j| j["database"] == "app" && j["kind"] == "drill" && j["status"] == "ok").unwrap();
    assert!(drill["snapshot"].is_string() && drill["rows"].as_u64() == Some(2), "{drill}");
    for job in &log {
        assert_shape(job, &table("Job", 0), "a job");
    }

    // A manual backup with the configuration is logged as manual, by the OS user.
    let config_arg = config.to_str().unwrap();
    env.ok(&[
        "backup",
        app.to_str().unwrap(),
        "--name",
        "app",
        "--class",
        "pre-deployment",
        "--reason",
        "release 7",
        "--config",
        config_arg,
    ]);
    let manual = jobs(&config).into_iter().rev().find(|j| j["kind"] == "backup").unwrap();
    assert_eq!((manual["trigger"].as_str(), manual["reason"].as_str()), (Some("manual"), Some("release 7")));
    assert!(!manual["actor"].as_str().unwrap().is_empty());

    let stats = env.json(&["stats", "--config", config_arg]);
    assert_shape(&stats, &table("`lifeboat stats`", 0), "stats");
    assert_shape(&stats["total"], &table("`lifeboat stats`", 1), "stats' total");
    let app_stats = stats["databases"].as_array().unwrap().iter().find(|d| d["database"] == "app").unwrap().clone();
    assert_shape(&app_stats, &table("`lifeboat stats`", 1), "stats of a database");
    let automated = log.iter().filter(|j| j["database"] == "app" && j["kind"] == "backup").count() as u64;
    assert_eq!(app_stats["automated"].as_u64(), Some(automated));
    assert_eq!(app_stats["manual"], 1);
    assert_eq!(app_stats["backups"].as_u64(), Some(automated + 1));
    assert_eq!(app_stats["success_rate"], 1.0);
    assert_eq!(app_stats["last_drill"], "ok");
    let shop = log.iter().filter(|j| j["database"] == "shop" && j["kind"] == "backup").count() as u64;
    assert_eq!(stats["total"]["backups"].as_u64(), Some(automated + 1 + shop));

    let health = env.json(&["health", "--config", config_arg]);
    assert_eq!(health["level"], "ok", "{health}");
    let names: Vec<&str> = health["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "shop"]);
    assert!(env.path("state/health.json").exists(), "the daemon writes health.json after every job");
}

#[test]
fn a_database_never_runs_two_jobs_at_once_and_the_limit_holds() {
    let env = Env::new();
    // Three databases due every second, two jobs at most; one of them is made slow by a
    // writer holding it locked for longer than the interval (its backup waits for the lock).
    for name in ["slow", "a", "b"] {
        sql(&env.path(&format!("{name}.db")), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    }
    let mut rest = "[limits]\nconcurrent_jobs = 2\n".to_string();
    for name in ["slow", "a", "b"] {
        rest.push_str(&format!(
            "\n[[databases]]\nname = \"{name}\"\nurl = \"{name}.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n"
        ));
    }
    let config = write_config(&env, &rest);
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("a first backup of the slow database", |_, jobs| count(jobs, "slow", "backup", "ok") >= 1);
    let writer = rusqlite::Connection::open(env.path("slow.db")).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);").unwrap();
    daemon.wait_for("a backup of the slow database waiting for its lock", |_, jobs| {
        jobs.iter().any(|j| j["database"] == "slow" && j["kind"] == "backup" && j["status"] == "running")
    });
    // Held on from when the waiting backup was seen, so it waits longer than its interval.
    let held = std::time::Instant::now();
    let held_from = jiff::Timestamp::now();
    let cpu_before = cpu_seconds(daemon.child.id());
    while held.elapsed() < std::time::Duration::from_millis(2500) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Health probes a locked database without waiting out its lock: locked is in use, not lost.
    let asked = std::time::Instant::now();
    let out = env.run(&["health", "--json", "--config", config.to_str().unwrap()]);
    let health: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(asked.elapsed() < std::time::Duration::from_secs(10), "health took {:?} on a locked database", asked.elapsed());
    assert!(!health["findings"].as_array().unwrap().iter().any(|f| f["check"] == "reachable"), "{health}");
    // Slots keep coming due for the busy database: waiting for it must not spin.
    let cpu = cpu_seconds(daemon.child.id()) - cpu_before;
    assert!(cpu < 1.0, "the daemon used {cpu:.2}s of CPU in 2.5s while a database was busy");
    let held_until = jiff::Timestamp::now();
    writer.execute_batch("COMMIT").unwrap();
    daemon.wait_for("three backups of each database", |_, jobs| ["slow", "a", "b"].iter().all(|db| count(jobs, db, "backup", "ok") >= 3));
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());

    let log = jobs(&config);
    let span = |j: &Value| -> (jiff::Timestamp, jiff::Timestamp) {
        (j["started_at"].as_str().unwrap().parse().unwrap(), j["finished_at"].as_str().unwrap().parse().unwrap())
    };
    // A backup and its retention are one job's two rows: they run one after the other.
    let finished: Vec<&Value> = log.iter().filter(|j| j["finished_at"].is_string()).collect();
    for db in ["slow", "a", "b"] {
        let mut own: Vec<(jiff::Timestamp, jiff::Timestamp)> = finished.iter().filter(|j| j["database"] == db).map(|j| span(j)).collect();
        own.sort();
        for pair in own.windows(2) {
            assert!(pair[1].0 >= pair[0].1, "{db}: a job started at {} while one ran until {}", pair[1].0, pair[0].1);
        }
    }
    let mut edges: Vec<(jiff::Timestamp, i32)> = finished.iter().flat_map(|j| [(span(j).0, 1), (span(j).1, -1)]).collect();
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, delta) in edges {
        running += delta;
        most = most.max(running);
    }
    assert!(most <= 2, "{most} jobs ran at once with concurrent_jobs = 2");
    // One busy database holds up nobody else: the others were backed up while it was locked
    // (a health check that waited on its lock once stalled the whole daemon for a minute).
    let others_meanwhile = finished
        .iter()
        .filter(|j| j["database"] != "slow" && j["kind"] == "backup" && j["status"] == "ok")
        .filter(|j| span(j).0 > held_from && span(j).1 < held_until)
        .count();
    assert!(others_meanwhile >= 2, "{others_meanwhile} backups of the other databases while `slow` was locked");
    // The test means something only if a slow backup outlasted its schedule's interval.
    let longest = finished
        .iter()
        .filter(|j| j["database"] == "slow" && j["kind"] == "backup")
        .map(|j| span(j).1.duration_since(span(j).0))
        .max()
        .unwrap();
    assert!(longest > jiff::SignedDuration::from_secs(1), "the slow backup took only {longest:#}:\n{}", daemon.events());
    assert!(daemon.events().matches("job started: backup of `slow`").count() >= 3);
}

#[test]
fn a_missed_slot_runs_once_at_start_and_a_killed_daemon_leaves_nothing_to_repair() {
    let env = Env::new();
    let big = env.path("big.db");
    common::big_db(&big, 120);
    let config = write_config(&env, "[[databases]]\nname = \"big\"\nurl = \"big.db\"\n[databases.schedule]\nhourly = \"*/3 * * * * *\"\n");

    // SIGTERM during a backup: a clean exit, no snapshot, the job logged as interrupted. The
    // daemon is frozen the moment it is seen writing a pack, so the signal lands mid-backup.
    let mut daemon = Daemon::start(&env, &config);
    common::wait_until(&mut daemon.child, "a pack being written", || common::partial_packs(&env));
    daemon.signal("STOP");
    assert_eq!(jobs(&config).last().unwrap()["status"], "running");
    daemon.signal("TERM");
    daemon.signal("CONT");
    assert!(daemon.wait_exit().success(), "{}", daemon.events());
    let log = jobs(&config);
    assert_eq!(log.last().unwrap()["status"], "interrupted", "{log:?}");
    assert_eq!(env.snapshot_count(), 0, "an interrupted backup writes no snapshot");
    // Down while two slots pass: the schedule is what is under test, so the clock is waited for.
    let slot: jiff::Timestamp = log.last().unwrap()["started_at"].as_str().unwrap().parse().unwrap();
    while jiff::Timestamp::now() < slot + jiff::SignedDuration::from_millis(6500) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // kill -9 during a backup: the next start marks it interrupted; the repository is sound.
    let mut daemon = Daemon::start(&env, &config);
    common::wait_until(&mut daemon.child, "the catch-up backup writing a pack", || common::partial_packs(&env));
    daemon.child.kill().unwrap();
    assert_eq!(daemon.events().matches(" catch-up: ").count(), 1, "missed slots run once:\n{}", daemon.events());
    assert_eq!(jobs(&config).iter().filter(|j| j["kind"] == "backup").count(), 2, "the catch-up backup ran at once");
    daemon.child.wait().unwrap();
    // Its process is gone: every reader shows it interrupted before anyone marks it.
    assert_eq!(jobs(&config).last().unwrap()["status"], "interrupted");
    assert_eq!(env.snapshot_count(), 0);
    let check = env.json(&["check"]);
    assert_eq!(check["ok"], true, "{check}");

    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("the killed job marked and a backup done", |_, jobs| {
        jobs.iter().filter(|j| j["status"] == "interrupted").count() == 2 && count(jobs, "big", "backup", "ok") >= 1
    });
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    let restored = env.path("restored.db");
    env.ok(&["restore", "latest", "--db", "big", "--to", restored.to_str().unwrap()]);
    assert_eq!(common::count(&restored, "t"), 120_000);
    assert_eq!(env.json(&["check", "--read-data"])["ok"], true);
}

#[test]
fn a_broken_reload_keeps_the_old_config_and_a_missing_database_is_critical() {
    let env = Env::new();
    sql(&env.path("app.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    let good = "[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n";
    let missing = "\n[[databases]]\nname = \"gone\"\nurl = \"gone/nothing.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n";
    let config = write_config(&env, &format!("{good}{missing}"));
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("a failed backup of the missing database", |_, jobs| {
        count(jobs, "gone", "backup", "failed") >= 1 && count(jobs, "app", "backup", "ok") >= 1
    });

    let config_arg = config.to_str().unwrap();
    let out = env.run(&["health", "--json", "--config", config_arg]);
    assert_eq!(out.status.code(), Some(2), "critical: {}", common::text(&out.stdout));
    let health: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["level"], "critical");
    let gone: Vec<&Value> = health["findings"].as_array().unwrap().iter().filter(|f| f["database"] == "gone").collect();
    assert!(
        gone.iter().any(|f| f["check"] == "reachable" && f["level"] == "critical" && f["message"].as_str().unwrap().contains("gone")),
        "{health}"
    );
    assert!(gone.iter().all(|f| !f["hint"].as_str().unwrap().is_empty()));
    assert_shape(&health, &table("`lifeboat health`", 0), "health");
    // The daemon runs on while a database is missing (health says so); `config check` calls it
    // a problem (exit 1).
    let out = env.run(&["config", "check", config_arg, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_shape(&checked, &table("`lifeboat config check`", 0), "config check");
    assert_eq!(checked["databases"], serde_json::json!(["app", "gone"]));
    assert!(checked["problems"][0].as_str().unwrap().contains("`gone`"), "{checked}");
    let nagios = env.run(&["health", "--nagios", "--config", config_arg]);
    assert_eq!(nagios.status.code(), Some(2));
    assert!(common::text(&nagios.stdout).starts_with("LIFEBOAT CRITICAL - ") && common::text(&nagios.stdout).contains("'app_age'="));
    let failed = env.json(&["log", "--db", "gone", "--status", "failed", "--config", config_arg]);
    assert!(failed["jobs"][0]["error"].as_str().unwrap().contains("nothing.db"), "{failed}");

    // A configuration that does not check is refused on SIGHUP; the old one keeps running.
    std::fs::write(&config, "[repository]\nurl = 42\n").unwrap();
    daemon.signal("HUP");
    daemon.wait_for("the broken reload reported", |events, _| events.contains("the old one stays"));
    let before = count(&jobs(&config), "app", "backup", "ok");
    daemon.wait_for("another backup under the old configuration", |_, jobs| count(jobs, "app", "backup", "ok") > before);

    // A good one is taken: the missing database is no longer backed up.
    write_config(&env, good);
    daemon.signal("HUP");
    daemon.wait_for("the reload", |events, _| events.contains(" reloaded: "));
    let gone_before = jobs(&config).iter().filter(|j| j["database"] == "gone").count();
    let app_before = count(&jobs(&config), "app", "backup", "ok");
    daemon.wait_for("two more backups of app", |_, jobs| count(jobs, "app", "backup", "ok") >= app_before + 2);
    assert!(jobs(&config).iter().filter(|j| j["database"] == "gone").count() <= gone_before + 1, "at most the job already queued");
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    assert!(!daemon.events().contains(common::PASSWORD), "no secret in any event line");
}

#[test]
fn a_scheduled_prune_waits_for_a_running_backup_and_the_wait_is_logged_and_counted() {
    let env = Env::new();
    let big = env.path("big.db");
    common::big_db(&big, 60);
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = write_config(&env, &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"));
    // A prune every second, in the [repository] section write_config starts with.
    let text = std::fs::read_to_string(&config).unwrap().replacen("\n\n[state]", "\nprune = \"* * * * * *\"\n\n[state]", 1);
    std::fs::write(&config, text).unwrap();

    // A manual backup, frozen while it holds its shared lock and writes a pack.
    let mut backup = env.cmd(&["backup", big.to_str().unwrap(), "--config", config.to_str().unwrap()]).spawn().unwrap();
    common::wait_until(&mut backup, "the backup writing a pack", || common::partial_packs(&env));
    let signal =
        |name: &str| assert!(std::process::Command::new("kill").args(["-s", name, &backup.id().to_string()]).status().unwrap().success());
    signal("STOP");

    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("a prune waiting for the lock", |_, jobs| jobs.iter().any(|j| j["kind"] == "prune" && j["status"] == "running"));
    common::signal(&backup, "CONT");
    assert!(backup.wait().unwrap().success(), "the backup finishes, whatever the prune wants");
    daemon.wait_for("the prune done", |_, jobs| jobs.iter().any(|j| j["kind"] == "prune" && j["status"] == "ok"));
    let log = jobs(&config);
    let prune = log.iter().find(|j| j["kind"] == "prune" && j["status"] == "ok").unwrap();
    let waited = prune["lock_wait_seconds"].as_f64().expect("the wait is logged");
    assert!(waited > 0.0, "{prune}");
    let metrics = metrics_text(metrics_port);
    assert!(metrics.lines().any(|l| l.starts_with("lifeboat_lock_waits_total ") && !l.ends_with(" 0")), "{metrics}");
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    // The backup that held the prune off restores.
    let restored = env.path("restored.db");
    env.ok(&["restore", "latest", "--db", "big", "--to", restored.to_str().unwrap()]);
    assert_eq!(common::count(&restored, "t"), 60_000);
}

/// `/metrics` as text, fetched with a plain HTTP/1.0 request.
fn metrics_text(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn sigterm_while_a_backup_waits_for_a_locked_database_ends_within_seconds() {
    let env = Env::new();
    sql(&env.path("app.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    let config = write_config(&env, "[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n");
    let writer = rusqlite::Connection::open(env.path("app.db")).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);").unwrap();
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("a backup waiting for the writer's lock", |_, jobs| {
        jobs.iter().any(|j| j["kind"] == "backup" && j["status"] == "running")
    });
    let asked = std::time::Instant::now();
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success(), "{}", daemon.events());
    assert!(asked.elapsed() < std::time::Duration::from_secs(10), "SIGTERM took {:?} (SQLite's busy timeout is 60 s)", asked.elapsed());
    let log = jobs(&config);
    assert_eq!(log.last().unwrap()["status"], "interrupted", "{log:?}");
    assert_eq!(env.snapshot_count(), 0);
    writer.execute_batch("COMMIT").unwrap();
}

/// Regressions, each on the real daemon process: a second daemon on the same state directory
/// also ran (double backups, double alerts); a job killed with its process stayed `running`
/// until the next start; every restart re-sent every alert, and the first round alerted about
/// databases merely waiting for their first backup.
#[test]
fn one_daemon_per_state_directory_and_what_it_told_survives_kill_and_restart() {
    let env = Env::new();
    sql(&env.path("app.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    sql(&env.path("locked.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    let (hooks, port) = common::webhook::Receiver::start();
    let config = write_config(
        &env,
        &format!(
            "[alerts]\nrepeat = \"1h\"\nwebhook = [{{ url = \"http://127.0.0.1:{port}/hook\", format = \"json\" }}]\n\n\
             [[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"0 0 1 1 *\"\n\n\
             [[databases]]\nname = \"flaky\"\nurl = \"flaky.db\"\n[databases.schedule]\nhourly = \"*/2 * * * * *\"\n\n\
             [[databases]]\nname = \"locked\"\nurl = \"locked.db\"\n[databases.schedule]\nhourly = \"*/2 * * * * *\"\n"
        ),
    );
    // `locked`'s backups wait for this writer's lock: a job that is running when the daemon dies.
    let writer = rusqlite::Connection::open(env.path("locked.db")).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);").unwrap();
    let mut first = Daemon::start(&env, &config);
    first.wait_for("flaky's failure alerted and locked's backup waiting", |_, jobs| {
        !hooks.on("/hook").is_empty() && jobs.iter().any(|j| j["database"] == "locked" && j["status"] == "running")
    });
    let alerts = hooks.on("/hook");
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    let text = alerts[0]["text"].as_str().unwrap();
    assert!(text.contains("flaky") && !text.contains("`app`"), "app merely waits for its first backup, which is not news: {text}");

    // A second daemon on the same state directory refuses at once, naming the first.
    let started = std::time::Instant::now();
    let second = env.cmd(&["daemon", "--config", config.to_str().unwrap()]).env_remove("LIFEBOAT_REPO").output().unwrap();
    let said = common::text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("pid {}", first.child.id())) && said.contains("since"), "{said}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());

    // kill -9: the waiting backup is `interrupted` for every reader at once, no restart needed.
    common::signal(&first.child, "KILL");
    first.wait_exit();
    let log = jobs(&config);
    let waiting = log.iter().rfind(|j| j["database"] == "locked").unwrap();
    assert_eq!(waiting["status"], "interrupted", "{waiting}");
    assert!(!log.iter().any(|j| j["status"] == "running"), "{log:?}");

    // The stale lock of the dead daemon is taken over; the alert state survived: flaky keeps
    // failing, health is evaluated in quiet rounds (the writer is gone), and nothing is re-sent.
    writer.execute_batch("COMMIT").unwrap();
    let failed_before = count(&log, "flaky", "backup", "failed");
    let mut again = Daemon::start(&env, &config);
    again.wait_for("flaky failing again and locked backed up", |_, jobs| {
        count(jobs, "flaky", "backup", "failed") >= failed_before + 2 && count(jobs, "locked", "backup", "ok") >= 1
    });
    let seen = jiff::Timestamp::now();
    let health_file = env.path("state").join("health.json");
    again.wait_for("a health evaluation after that, and another round", |_, jobs| {
        let checked = std::fs::read(&health_file).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let at = checked.and_then(|h| h["checked_at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()));
        at.is_some_and(|at| at > seen) && count(jobs, "flaky", "backup", "failed") >= failed_before + 4
    });
    assert_eq!(hooks.on("/hook").len(), 1, "nothing re-sent after the restart: {:?}", hooks.on("/hook"));
    again.signal("TERM");
    again.wait_exit();
}

/// Regression: `config check` said ok to mistakes a daemon trips on. Every one is now found at
/// once, one line each, exit 1; a server that does not answer is a warning.
#[test]
fn config_check_names_every_problem_at_once() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    sql(&env.path("app.db"), "CREATE TABLE t (a);");
    sql(&env.path("subset.db"), "CREATE TABLE t (a);");
    std::os::unix::fs::symlink(env.path("app.db"), env.path("alias.db")).unwrap();
    std::fs::write(env.path("password"), "pw\n").unwrap();
    std::fs::set_permissions(env.path("password"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(env.path("a-file"), "").unwrap();
    let closed = common::free_port();
    let text = format!(
        "[repository]\nurl = \"{}\"\npassword_file = \"password\"\n\n[state]\ndir = \"a-file/state\"\n\n\
         [[databases]]\nname = \"app\"\nurl = \"app.db\"\n\n\
         [[databases]]\nname = \"alias\"\nurl = \"alias.db\"\n\n\
         [[databases]]\nname = \"missing\"\nurl = \"sqlite:nowhere/missing.db\"\n\n\
         [[databases]]\nname = \"unparsable\"\nurl = \"postgres://app@db.example/shop%zz\"\n\n\
         [[databases]]\nname = \"subset\"\nurl = \"subset.db\"\ntables = [\"t\"]\n\n\
         [[databases]]\nname = \"down\"\nurl = \"postgresql://app@127.0.0.1:{closed}/shop\"\nintegrity = \"full\"\n",
        env.repo.display()
    );
    let config = env.path("lifeboat.toml");
    std::fs::write(&config, text).unwrap();
    let out = env.run(&["config", "check", config.to_str().unwrap()]);
    let said = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("error: ")).collect();
    for expected in [
        "password_file",
        "readable by others",
        "a-file",
        "`missing`",
        "`unparsable`",
        "`app` and `alias` are the same database",
        // Options the engine's capabilities rule out, named by their configuration keys.
        "database `subset`: `tables` cannot be used with a sqlite database",
        "database `down`: `integrity` cannot be used with a postgres database",
    ] {
        assert!(errors.iter().any(|l| l.contains(expected)), "no line says {expected:?}:\n{said}");
    }
    assert!(said.lines().any(|l| l.starts_with("warning: ") && l.contains("`down`")), "{said}");

    // A value of the wrong kind names its line, key and value, and what is allowed.
    let bad = env.path("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[repository]\nurl = \"{}\"\n[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.retention]\nhourly = -1\n",
            env.repo.display()
        ),
    )
    .unwrap();
    let err = env.fails(&["config", "check", bad.to_str().unwrap()], 1);
    assert!(err.contains("line 7: `hourly = -1`") && err.contains("whole number") && !err.contains("variant"), "{err}");
}

/// Regression: `lifeboat log | head -1` panicked on the closed pipe (exit 101).
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let env = Env::new();
    let state = env.path("state");
    for _ in 0..3 {
        let db = env.path("app.db");
        sql(&db, "CREATE TABLE IF NOT EXISTS t (a); INSERT INTO t VALUES (1);");
        let mut backup = env.cmd(&["backup", db.to_str().unwrap()]);
        assert!(backup.env("LIFEBOAT_STATE_DIR", &state).status().unwrap().success());
    }
    for args in [vec!["log"], vec!["log", "--json"], vec!["snapshots"]] {
        let mut child = env
            .cmd(&args)
            .env("LIFEBOAT_STATE_DIR", &state)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is printed
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", common::text(&out.stderr));
        assert!(!common::text(&out.stderr).contains("panicked"), "{}", common::text(&out.stderr));
    }
}

#[test]
fn every_backup_is_drilled_and_one_with_the_same_content_is_covered_by_the_earlier_drill() {
    let env = Env::new();
    let app = env.path("app.db");
    sql(&app, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t (b) VALUES ('x'), ('y');");
    // No `drill` in the schedule: every backup is drilled all the same (the default).
    let config = write_config(
        &env,
        "[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"*/2 * * * * *\"\n[databases.retention]\nhourly = 100\n",
    );
    let mut daemon = Daemon::start(&env, &config);
    let drilled = |jobs: &[Value], covered: bool| {
        jobs.iter().filter(|j| j["kind"] == "drill" && j["status"] == "ok" && j["covered_by"].is_string() == covered).count()
    };
    daemon.wait_for("a drill that ran and one covered by it", |_, jobs| drilled(jobs, false) >= 1 && drilled(jobs, true) >= 1);
    sql(&app, "INSERT INTO t (b) VALUES ('z')");
    daemon.wait_for("a drill of the changed database that ran itself", |_, jobs| {
        jobs.iter().any(|j| j["kind"] == "drill" && j["status"] == "ok" && j["rows"] == 3 && j["covered_by"].is_null())
    });
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success(), "{}", daemon.events());
    let log = jobs(&config);

    // Each backup but one still in flight at the stop was drilled: its very snapshot.
    let backups: Vec<&str> =
        log.iter().filter(|j| j["kind"] == "backup" && j["status"] == "ok").map(|j| j["snapshot"].as_str().unwrap()).collect();
    let drills: Vec<&Value> = log.iter().filter(|j| j["kind"] == "drill" && j["status"] == "ok").collect();
    let undrilled: Vec<&&str> = backups.iter().filter(|b| !drills.iter().any(|d| d["snapshot"] == **b)).collect();
    assert!(undrilled.len() <= 1 && undrilled.iter().all(|b| **b == *backups.last().unwrap()), "{undrilled:?} of {backups:?}");
    // A covered drill names a drill that ran itself, of the same content (row counts).
    for covered in drills.iter().filter(|d| d["covered_by"].is_string()) {
        let by = drills.iter().find(|d| d["snapshot"] == covered["covered_by"] && d["covered_by"].is_null()).expect("the drill that ran");
        assert_eq!(by["rows"], covered["rows"], "{covered}");
    }
    let first_three = drills.iter().find(|d| d["rows"] == 3).unwrap();
    assert!(first_three["covered_by"].is_null(), "a changed database is never covered by the old drill: {first_three}");

    // A restore of a covered backup says which drill stands behind it.
    let covered = drills.iter().find(|d| d["covered_by"].is_string()).unwrap()["snapshot"].as_str().unwrap().to_string();
    let report = env.json(&["restore", &covered, "--to", "back.db", "--config", config.to_str().unwrap()]);
    let vouched = report["vouched_by"].to_string();
    assert!(vouched.contains("the restore drill of snapshot") && vouched.contains("passed the full integrity check"), "{report}");
    assert_eq!(common::count(&env.path("back.db"), "t"), 2);
    let health = env.json(&["health", "--config", config.to_str().unwrap()]);
    assert_eq!(health["level"], "ok", "{health}");
}

/// `[state] keep_jobs`: at its start the daemon removes the jobs older than that (a failure
/// only after twice that), and keeps the newest job of each database and kind whatever its
/// age. The text listing shows the newest 100 jobs and says how many there are.
#[test]
fn the_daemon_forgets_jobs_past_keep_jobs_and_log_lists_the_newest() {
    let env = Env::new();
    let app = env.path("app.db");
    sql(&app, "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    let state = env.path("state");
    for _ in 0..3 {
        assert!(env.cmd(&["backup", app.to_str().unwrap()]).env("LIFEBOAT_STATE_DIR", &state).status().unwrap().success());
    }
    let failed = env.cmd(&["backup", env.path("missing.db").to_str().unwrap()]).env("LIFEBOAT_STATE_DIR", &state).status().unwrap();
    assert!(!failed.success());
    // Jobs 1 and 2 (ok) 40 days old, job 4 (failed, of `missing`) 40 days old; job 3 is
    // app's newest backup, and 4 is the newest of `missing`, however old.
    let store = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24)).to_string();
    store.execute("UPDATE jobs SET started_at = ?1, finished_at = ?1 WHERE id IN (1, 2, 4)", [&old]).unwrap();
    store.execute("UPDATE jobs SET started_at = ?1, finished_at = ?1 WHERE id = 3", ["1999-01-01T00:00:00Z"]).unwrap();
    let config = write_config(
        &env,
        "[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\ndaily = \"0 3 * * *\"\ndrill = \"off\"\n",
    );
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("[state]\n", "[state]\nkeep_jobs = \"30d\"\n")).unwrap();
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("the old jobs to be removed", |events, _| events.contains("removed 2 job(s) older than [state] keep_jobs"));
    let left: Vec<i64> = jobs(&config).iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(left, [3, 4], "{}", daemon.events());
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());

    // 150 jobs (ids 3, 4, then 5 to 152): the listing shows the newest 100, oldest first, and
    // says how many there are.
    store
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 148)
             INSERT INTO jobs (database, kind, trigger, actor, started_at, finished_at, status, host, pid)
             SELECT 'app', 'check', 'manual', 'me', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'ok', 'h', 1 FROM n",
        )
        .unwrap();
    let listed = env.cmd(&["log"]).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    let text = common::text(&listed.stdout);
    let rows: Vec<&str> = text.lines().skip(1).filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert_eq!(rows.len(), 100, "{text}");
    assert!(rows[0].trim_start().starts_with("53 ") && rows[99].trim_start().starts_with("152 "), "{text}");
    assert!(text.ends_with("the newest 100 of 150 jobs; `--all` lists every one, `--last N` the newest N\n"), "{text}");
    let all = env.cmd(&["log", "--all"]).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    assert!(common::text(&all.stdout).ends_with("\n150 jobs\n"), "{}", common::text(&all.stdout));
    let last = env.cmd(&["log", "--last", "2", "--json"]).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    let last: Value = serde_json::from_slice(&last.stdout).unwrap();
    let ids: Vec<i64> = last["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [151, 152]);
}

/// Every CLI command that changes or reads backups is in the job log when a state directory
/// is known, with the snapshot it worked on: exports and restores too.
#[test]
fn cli_backups_restores_exports_drills_checks_and_forgets_are_logged() {
    let env = Env::new();
    let app = env.path("app.db");
    sql(&app, "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    let state = env.path("state");
    let run = |args: &[&str]| {
        let out = env.cmd(args).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", common::text(&out.stderr));
    };
    run(&["backup", app.to_str().unwrap()]);
    run(&["export", "latest", "--format", "sql", "-o", env.path("app.sql").to_str().unwrap()]);
    run(&["restore", "latest", "--to", env.path("copy.db").to_str().unwrap()]);
    run(&["verify", "latest"]);
    run(&["check"]);
    run(&["forget", "--keep-last", "1", "--yes"]);
    let out = env.cmd(&["log", "--json"]).env("LIFEBOAT_STATE_DIR", &state).output().unwrap();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = log["jobs"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> =
        jobs.iter().map(|j| (j["kind"].as_str().unwrap(), j["status"].as_str().unwrap(), j["trigger"].as_str().unwrap())).collect();
    let expected = ["backup", "export", "restore", "drill", "check", "forget"].map(|kind| (kind, "ok", "manual"));
    assert_eq!(seen, expected);
    let snapshot = jobs[0]["snapshot"].as_str().unwrap();
    for j in &jobs[1..4] {
        assert_eq!(j["snapshot"], snapshot, "{j}");
    }
}

/// The job log is shared: CLI commands that read it and write it, run beside a daemon writing
/// a job every few hundred milliseconds, never fail on its lock ("database is locked").
#[test]
fn cli_commands_beside_a_busy_daemon_never_find_the_job_log_locked() {
    let env = Env::new();
    let mut rest = "[limits]\nconcurrent_jobs = 2\n".to_string();
    for name in ["a", "b"] {
        sql(&env.path(&format!("{name}.db")), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
        rest.push_str(&format!(
            "\n[[databases]]\nname = \"{name}\"\nurl = \"{name}.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\ndrill = \"off\"\n"
        ));
    }
    let config = write_config(&env, &rest);
    let config_arg = config.to_str().unwrap();
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("the daemon's first backups", |_, jobs| count(jobs, "a", "backup", "ok") >= 1);
    let before = jobs(&config).len();
    let mut commands = 0;
    // Until the daemon has logged ten more jobs while the commands ran (and at least 20 ran).
    while commands < 20 || jobs(&config).len() < before + 10 {
        for args in [
            vec!["log", "--config", config_arg],
            vec!["stats", "--config", config_arg, "--json"],
            vec!["backup", "a", "--config", config_arg],
        ] {
            let out = env.cmd(&args).env_remove("LIFEBOAT_REPO").output().unwrap();
            let said = common::text(&out.stderr);
            assert!(out.status.success(), "{args:?} failed beside the daemon: {said}");
            assert!(!said.contains("locked") && !said.contains("not logged"), "{args:?}: {said}");
            commands += 1;
        }
        assert!(commands < 600, "the daemon logged no new jobs while the commands ran:\n{}", daemon.events());
    }
    let manual = jobs(&config).iter().filter(|j| j["trigger"] == "manual" && j["kind"] == "backup" && j["status"] == "ok").count();
    assert_eq!(manual, commands / 3, "every manual backup is in the log");
}
