//! The HTTP API against the real daemon process, with real HTTP clients (ureq, and `curl` for
//! the seed's own call): every route refuses who it does not name, the answers carry what
//! the job log and the configuration hold, a backup asked for over HTTP runs in the daemon's
//! queue and is logged and audited with its reason and its caller.

mod common;

use std::path::PathBuf;

use common::{
    Env,
    daemon::{Daemon, jobs, write_config},
    free_port, sql, text,
};
use serde_json::Value;

/// What Prometheus sends to scrape `/metrics` on the API's listener.
const METRICS_TOKEN: &str = "scrape-me-7d1c";

struct Api {
    env: Env,
    config: PathBuf,
    base: String,
    daemon: Daemon,
    agent: ureq::Agent,
    admin: String,
    operator: String,
    viewer: String,
}

impl Api {
    /// A daemon serving the API for two SQLite databases (`app`, `shop`), with an admin token,
    /// an operator token for `app` only, and a viewer token.
    fn start() -> Self {
        let env = Env::new();
        for name in ["app", "shop"] {
            sql(&env.path(&format!("{name}.db")), "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');");
        }
        let port = free_port();
        let metrics_token = env.path("metrics-token");
        std::fs::write(&metrics_token, format!("{METRICS_TOKEN}\n")).unwrap();
        std::fs::set_permissions(&metrics_token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let config = write_config(
            &env,
            &format!(
                "[api]\nlisten = \"127.0.0.1:{port}\"\ndefault_database = \"app\"\n\n[metrics]\ntoken_file = \"metrics-token\"\n\n\
                 [[databases]]\nname = \"app\"\nurl = \"app.db\"\n\n[[databases]]\nname = \"shop\"\nurl = \"shop.db\"\n"
            ),
        );
        let token = |name: &str, grant: &[&str]| {
            let mut args = vec!["token", "add", name, "--config", config.to_str().unwrap()];
            args.extend(grant);
            env.ok(&args).trim().to_string()
        };
        let admin = token("root-token", &["--role", "admin"]);
        let operator = token("ci", &["--role", "operator", "--database", "app"]);
        let viewer = token("dashboard", &["--role", "viewer"]);
        let daemon = Daemon::start(&env, &config);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Self { env, config, base: format!("http://127.0.0.1:{port}"), daemon, agent, admin, operator, viewer }
    }

    /// `method path` with `token` (and `body`): the status and the JSON answer.
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url);
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        let mut response = self.agent.run(request.body(body.unwrap_or_default().to_string()).unwrap()).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(token), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn audit(&self) -> Vec<Value> {
        let out = self.env.run(&["audit", "--json", "--config", self.config.to_str().unwrap()]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["rows"].as_array().unwrap().clone()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.daemon.signal("TERM");
        self.daemon.wait_exit();
    }
}

/// Walks every route of the OpenAPI document, for every method it lists: without credentials
/// 401 (with `WWW-Authenticate`), with a token that proves nothing 401, with a role below the
/// route's 403, and with the admin's token neither 404 nor 405 (the document lists what is
/// served). A viewer's POST changes nothing and is audited as refused.
#[test]
fn every_route_refuses_callers_without_the_role_it_declares() {
    let api = Api::start();
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 7, "{paths:?}");
    let level = |role: &str| ["anyone", "viewer", "operator", "admin"].iter().position(|r| *r == role).unwrap();
    let tokens = [("viewer", &api.viewer), ("operator", &api.operator), ("admin", &api.admin)];
    let mut walked = 0;
    for (path, methods) in paths {
        let path = path.replace("{id}", "1").replace("{name}", "no-such-token");
        for (method, operation) in methods.as_object().unwrap() {
            let method = method.to_uppercase();
            let role = operation["x-lifeboat-role"].as_str().unwrap();
            let body = (method == "POST").then_some("{}");
            walked += 1;
            if role == "anyone" {
                assert_eq!(api.call(&method, &path, None, body).0, 200, "{method} {path} is open to anyone");
                continue;
            }
            let url = format!("{}{path}", api.base);
            let response =
                api.agent.run(ureq::http::Request::builder().method(method.as_str()).uri(&url).body(String::new()).unwrap()).unwrap();
            assert_eq!(response.status().as_u16(), 401, "{method} {path} without credentials");
            assert!(response.headers().contains_key("www-authenticate"), "{method} {path}");
            let (status, error) = api.call(&method, &path, Some("lb_000000000000_not-a-token"), body);
            assert_eq!(status, 401, "{method} {path} with a token that proves nothing");
            assert_eq!(error["error"]["kind"], "unauthorized", "the CLI's error shape: {error}");
            for (holder, token) in tokens {
                let (status, answer) = api.call(&method, &path, Some(token), body);
                if level(holder) < level(role) {
                    assert_eq!(status, 403, "{method} {path} as {holder} (needs {role}): {answer}");
                    assert_eq!(answer["error"]["kind"], "forbidden");
                } else {
                    // Served: past the guard, into the handler (which may find nothing at `1`).
                    let unserved = status == 405 || answer["error"]["message"] == "there is no such route";
                    assert!(status != 401 && status != 403 && !unserved, "{method} {path} as {holder}: {status} {answer}");
                }
            }
        }
    }
    assert!(walked >= 8, "{walked} routes walked");
    // A method a path does not list, and a path not in the document, are not served.
    assert_eq!(api.call("DELETE", "/api/v1/jobs", Some(&api.admin), None).0, 405);
    let (status, missing) = api.call("GET", "/api/v1/nothing-here", Some(&api.admin), None);
    assert_eq!((status, &missing["error"]["kind"]), (404, &"not_found".into()));

    // The viewer's refused POSTs were audited, and queued nothing.
    let denied: Vec<Value> = api.audit().into_iter().filter(|r| r["outcome"] == "denied").collect();
    assert!(denied.iter().any(|r| r["actor"] == "dashboard" && r["action"] == "POST /api/v1/backups"), "{denied:?}");
    assert!(denied.iter().all(|r| r["source"] == "127.0.0.1" && r["request_id"].is_string()), "{denied:?}");
    assert!(!jobs(&api.config).iter().any(|j| j["actor"] == "dashboard"), "a viewer started nothing");
}

/// The seed's call, as written (`curl -X POST … -d '{"reason": …}'`, which sends the JSON
/// labelled as a form): 202, the backup of the default database runs in the daemon's queue,
/// is logged with trigger `api`, the token's name as actor and the reason, carries the reason
/// into the snapshot, and is audited. The token itself appears nowhere.
#[test]
fn the_seeds_backup_call_works_as_written_and_is_logged_and_audited() {
    let mut api = Api::start();
    // Listed (and cached) before the backup: the daemon's own job must refresh the listing.
    let before = api.get("/api/v1/snapshots", &api.viewer)["snapshots"].as_array().unwrap().len();
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", &format!("{}/api/admin/backup", api.base)])
        .args(["-H", &format!("Authorization: Bearer {}", api.operator), "-d", r#"{"reason": "Before migration"}"#])
        .output()
        .unwrap();
    let answer = text(&out.stdout);
    let (body, status) = answer.rsplit_once('\n').unwrap();
    assert_eq!(status, "202", "{answer}");
    let body: Value = serde_json::from_str(body).unwrap();
    let queued = serde_json::json!({"kind": "backup", "database": "app", "class": "manual", "reason": "Before migration", "actor": "ci"});
    assert_eq!(body["queued"], queued);

    api.daemon.wait_for("the API's backup", |_, jobs| jobs.iter().any(|j| j["trigger"] == "api" && j["status"] == "ok"));
    let logged = jobs(&api.config);
    let job = logged.iter().find(|j| j["trigger"] == "api").unwrap();
    assert_eq!(
        (&job["database"], &job["actor"], &job["reason"], &job["kind"]),
        (&"app".into(), &"ci".into(), &"Before migration".into(), &"backup".into())
    );
    assert_eq!(job["classes"], serde_json::json!(["manual"]));
    let snapshots = api.env.json(&["snapshots"]);
    let snapshot = snapshots["snapshots"].as_array().unwrap().iter().find(|s| s["id"] == job["snapshot"]).expect("the job's snapshot");
    assert_eq!(snapshot["reason"], "Before migration");

    // GET snapshots answers what `lifeboat snapshots --json` does, the new backup included.
    let listed = api.get("/api/v1/snapshots", &api.viewer);
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), before + 1, "the listing was refreshed after the daemon's job");
    assert_eq!(listed["snapshots"], snapshots["snapshots"], "the API's listing is the CLI's");
    let manual = api.get("/api/v1/snapshots?class=manual&database=app", &api.operator);
    assert_eq!(manual["snapshots"].as_array().unwrap().iter().map(|s| &s["id"]).collect::<Vec<_>>(), [&job["snapshot"]]);
    assert_eq!(api.call("GET", "/api/v1/snapshots?database=shop", Some(&api.operator), None).0, 403);
    let short = &job["snapshot"].as_str().unwrap()[..8];
    let report = api.get(&format!("/api/v1/snapshots/{short}"), &api.viewer);
    let shown = api.env.json(&["show", short]);
    assert_eq!(report["manifest"], shown["manifest"], "the show report");
    assert_eq!(report["samples"], serde_json::json!({}), "no rows of data for a viewer");
    assert_eq!(api.call("GET", "/api/v1/snapshots/ffffffffff", Some(&api.viewer), None).0, 404);

    // GET jobs and jobs/{id} answer with the log's own rows.
    let listed = api.get("/api/v1/jobs?database=app&last=5", &api.viewer);
    let from_api = listed["jobs"].as_array().unwrap().iter().find(|j| j["id"] == job["id"]).expect("listed");
    assert_eq!(from_api, job, "the API's job is the log's");
    assert_eq!(&api.get(&format!("/api/v1/jobs/{}", job["id"]), &api.viewer), job);
    assert_eq!(api.call("GET", "/api/v1/jobs/999999", Some(&api.viewer), None).0, 404);

    let audit = api.audit();
    let started = audit.iter().find(|r| r["action"] == "backup.start").expect("audited");
    assert_eq!(
        (&started["actor"], &started["role"], &started["target"], &started["outcome"]),
        (&"ci".into(), &"operator".into(), &"app".into(), &"ok".into())
    );
    assert_eq!(started["detail"], "Before migration");
    let secret = api.operator.rsplit_once('_').unwrap().1.to_string();
    let everything = format!("{audit:?}{logged:?}{}", api.daemon.events());
    assert!(!everything.contains(&secret), "the token is never logged");
    let verified = api.env.run(&["audit", "verify", "--config", api.config.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));

    // A drill asked for over the API drills the newest backup, logged with its caller.
    let (status, body) = api.call("POST", "/api/v1/drills", Some(&api.operator), Some(r#"{"database": "app"}"#));
    assert_eq!((status, &body["queued"]["kind"]), (202, &"drill".into()), "{body}");
    api.daemon
        .wait_for("the API's drill", |_, jobs| jobs.iter().any(|j| j["kind"] == "drill" && j["trigger"] == "api" && j["status"] == "ok"));
    let drill = jobs(&api.config).into_iter().rev().find(|j| j["kind"] == "drill" && j["trigger"] == "api").unwrap();
    assert_eq!((&drill["actor"], &drill["snapshot"]), (&"ci".into(), &job["snapshot"]));
    assert!(api.audit().iter().any(|r| r["action"] == "drill.start" && r["actor"] == "ci"));
}

/// A token limited to `app` sees and backs up `app` only; bodies that are not JSON or too
/// large, and databases that do not exist, are refused with the error shape; a revoked token
/// is refused at its next request, by the daemon already running.
#[test]
fn scopes_bad_bodies_and_revocation_are_refused_at_once() {
    let api = Api::start();
    let names =
        |body: &Value| body["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&api.get("/api/v1/databases", &api.operator)), ["app"]);
    let all = api.get("/api/v1/databases", &api.viewer);
    assert_eq!(names(&all), ["app", "shop"]);
    assert_eq!(all["databases"][0]["engine"], "sqlite");
    assert_eq!(all["databases"][0]["source"], api.env.path("app.db").to_str().unwrap(), "the file, resolved beside the configuration");
    assert_eq!(all["databases"][0]["schedules"][0], serde_json::json!({"class": "hourly", "cron": "0 * * * *"}));

    let (status, _) = api.call("POST", "/api/v1/backups", Some(&api.operator), Some(r#"{"database": "shop", "reason": "not mine"}"#));
    assert_eq!(status, 403, "outside the token's databases");
    assert_eq!(api.call("GET", "/api/v1/jobs?database=shop", Some(&api.operator), None).0, 403);
    let refused = api.audit().into_iter().find(|r| r["action"] == "backup.start").expect("audited");
    assert_eq!((&refused["outcome"], &refused["target"]), (&"denied".into(), &"shop".into()));

    let (status, error) = api.call("POST", "/api/v1/backups", Some(&api.admin), Some("not json"));
    assert_eq!((status, &error["error"]["kind"]), (400, &"bad_request".into()));
    let (status, error) = api.call("POST", "/api/v1/backups", Some(&api.admin), Some(r#"{"database": "nope"}"#));
    assert_eq!((status, &error["error"]["kind"]), (404, &"not_found".into()));
    let (status, _) = api.call("POST", "/api/v1/backups", Some(&api.admin), Some(r#"{"database": "app", "class": "weird"}"#));
    assert_eq!(status, 400, "not a class");
    let huge = format!(r#"{{"database": "app", "reason": "{}"}}"#, "x".repeat(200_000));
    let (status, error) = api.call("POST", "/api/v1/backups", Some(&api.admin), Some(&huge));
    assert_eq!((status, &error["error"]["kind"]), (413, &"too_large".into()));
    assert!(!jobs(&api.config).iter().any(|j| j["trigger"] == "api"), "nothing refused was queued");

    let stats = api.get("/api/v1/stats", &api.operator);
    assert!(stats["databases"].as_array().unwrap().iter().all(|d| d["database"] == "app"), "{stats}");

    assert_eq!(api.call("GET", "/api/v1/stats", Some(&api.viewer), None).0, 200);
    api.env.ok(&["token", "revoke", "dashboard", "--config", api.config.to_str().unwrap()]);
    assert_eq!(api.call("GET", "/api/v1/stats", Some(&api.viewer), None).0, 401, "revoked at once");

    // Prometheus with the metrics token scrapes /metrics, and that token opens nothing else.
    let scrape = api.agent.get(&format!("{}/metrics", api.base)).header("authorization", format!("Bearer {METRICS_TOKEN}")).call().unwrap();
    assert_eq!(scrape.status().as_u16(), 200);
    assert!(scrape.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = scrape.into_body().read_to_string().unwrap();
    assert!(text.contains("lifeboat_health_level{database=\"app\"}") && text.ends_with("# EOF\n"), "{text}");
    assert_eq!(api.call("GET", "/api/v1/stats", Some(METRICS_TOKEN), None).0, 401, "the metrics token is no API token");
    assert_eq!(api.call("GET", "/metrics", None, None).0, 401);

    // An admin sees the tokens (never a secret) and revokes one over the API, audited.
    let tokens = api.get("/api/v1/tokens", &api.admin);
    let names: Vec<&str> = tokens["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ci", "root-token"]);
    assert!(!tokens.to_string().contains(api.operator.rsplit_once('_').unwrap().1), "no secret listed");
    let (status, revoked) = api.call("DELETE", "/api/v1/tokens/ci", Some(&api.admin), None);
    assert_eq!((status, &revoked["action"], &revoked["name"]), (200, &"token.revoke".into(), &"ci".into()));
    assert_eq!(api.call("GET", "/api/v1/stats", Some(&api.operator), None).0, 401, "revoked over the API, at once");
    assert_eq!(api.call("DELETE", "/api/v1/tokens/ci", Some(&api.admin), None).0, 404);
    let audit = api.get("/api/v1/audit?since=1h", &api.admin);
    let revocation = audit["rows"].as_array().unwrap().iter().find(|r| r["action"] == "token.revoke" && r["target"] == "ci").unwrap();
    assert_eq!(
        (&revocation["actor"], &revocation["role"], &revocation["source"]),
        (&"root-token".into(), &"admin".into(), &"127.0.0.1".into())
    );
    assert_eq!(api.get("/api/v1/users", &api.admin)["users"], serde_json::json!([]));
}

/// One SSE event: its name and its data as JSON.
fn events(reader: impl std::io::BufRead) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut name = String::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(event) = line.strip_prefix("event: ").or_else(|| line.strip_prefix("event:")) {
            name = event.trim().to_string();
        } else if let Some(data) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
            events.push((name.clone(), serde_json::from_str(data.trim()).unwrap()));
            if name == "end" {
                break;
            }
        }
    }
    events
}

/// A running backup's progress streams as server-sent events, from a watcher of its own: the
/// bytes grow, the total is the database's size, and the end carries the job as logged. A job
/// that already ended gets its end at once.
#[test]
fn a_running_jobs_progress_streams_as_server_sent_events() {
    let api = Api::start();
    sql(
        &api.env.path("app.db"),
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 150) INSERT INTO t(v) SELECT hex(randomblob(500000)) FROM g;",
    );
    let (status, _) = api.call("POST", "/api/v1/backups", Some(&api.operator), Some(r#"{"database": "app", "reason": "watch me"}"#));
    assert_eq!(status, 202);
    // Watched as soon as the API lists it running (observed, not slept for).
    let started = std::time::Instant::now();
    let id = loop {
        let listed = api.get("/api/v1/jobs?database=app", &api.viewer);
        if let Some(job) = listed["jobs"].as_array().unwrap().iter().find(|j| j["trigger"] == "api" && j["kind"] == "backup") {
            assert_eq!(job["status"], "running", "the backup ended before it could be watched: {job}");
            break job["id"].as_i64().unwrap();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the backup never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let url = format!("{}/api/v1/jobs/{id}/events", api.base);
    let response = api.agent.get(&url).header("authorization", format!("Bearer {}", api.viewer)).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let seen = events(std::io::BufReader::new(response.into_body().into_reader()));
    let (last, progress) = seen.split_last().unwrap();
    assert_eq!(last.0, "end", "{seen:?}");
    assert_eq!((&last.1["id"], &last.1["status"], &last.1["reason"]), (&id.into(), &"ok".into(), &"watch me".into()));
    assert!(!progress.is_empty(), "progress while it ran: {seen:?}");
    let bytes: Vec<u64> = progress.iter().map(|(_, p)| p["bytes"].as_u64().unwrap()).collect();
    assert!(bytes.windows(2).all(|w| w[0] <= w[1]), "the bytes only grow: {bytes:?}");
    assert!(progress.iter().all(|(name, p)| name == "progress" && p["total_bytes"].as_u64().unwrap() > 75_000_000), "{progress:?}");
    assert_eq!(progress.last().unwrap().1["status"], "ok");

    // Ended already: the end at once.
    let again = api.agent.get(&url).header("authorization", format!("Bearer {}", api.viewer)).call().unwrap();
    let seen = events(std::io::BufReader::new(again.into_body().into_reader()));
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0.as_str(), &seen[0].1["status"]), ("end", &"ok".into()));
    assert_eq!(api.call("GET", "/api/v1/jobs/999999/events", Some(&api.viewer), None).0, 404);
}
