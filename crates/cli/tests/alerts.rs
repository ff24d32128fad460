//! Alerts reach a real SMTP server (aiosmtpd, with a login, writing a maildir) and a real HTTP
//! receiver; `/metrics` is read by Prometheus' own text parser (python3-prometheus-client).

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use common::{
    Env,
    daemon::{Daemon, count, jobs, write_config},
    free_port,
    json_doc::{assert_shape, table},
    sql,
    webhook::Receiver,
};

const SMTP_PASSWORD: &str = "smtp-secret-do-not-log";

/// aiosmtpd on `port`, accepting only `ops` / [`SMTP_PASSWORD`], delivering into `maildir`.
struct Smtp {
    child: Child,
    maildir: PathBuf,
}

/// The server; `mode` is `plain`, `starttls` (STARTTLS required before the login) or
/// `implicit` (TLS from the first byte), with `cert` and `key` for the TLS ones.
const SMTP_SERVER: &str = r#"
import mailbox, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, maildir, user, password, mode, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
class Deliver:
    async def handle_DATA(self, server, session, envelope):
        mailbox.Maildir(maildir, create=True).add(envelope.original_content)
        return "250 delivered"
def login(server, session, envelope, mechanism, data):
    return AuthResult(success=isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password)
options = dict(hostname="127.0.0.1", port=port, authenticator=login, auth_required=True)
if mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
if mode == "plain":
    options.update(auth_require_tls=False)
elif mode == "starttls":
    options.update(tls_context=context, require_starttls=True)
else:
    # The whole connection is TLS; aiosmtpd does not count it as such for AUTH.
    options.update(ssl_context=context, auth_require_tls=False)
controller = Controller(Deliver(), **options)
controller.start()
print("ready", flush=True)
sys.stdin.read()
"#;

impl Smtp {
    fn start(dir: &Path, mode: &str) -> (Self, u16) {
        let port = free_port();
        let maildir = dir.join(format!("maildir-{mode}"));
        let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", SMTP_SERVER, &port.to_string(), maildir.to_str().unwrap(), "ops", SMTP_PASSWORD, mode])
            .args([&cert, &key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3-aiosmtpd is installed by scripts/setup");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        (Self { child, maildir }, port)
    }

    /// Each delivered message's subject and body, in delivery order.
    fn mails(&self) -> Vec<(String, String)> {
        let mut files: Vec<PathBuf> = common::walk(&self.maildir.join("new"));
        files.sort_by_key(|f| std::fs::metadata(f).unwrap().modified().unwrap());
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string();
                (subject, text)
            })
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/metrics` parsed by the Prometheus client library's OpenMetrics parser: each sample as
/// `name{label=value,...}` → value.
fn scrape(port: u16) -> std::collections::BTreeMap<String, f64> {
    let script = r#"
import sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let out = Command::new("/usr/bin/python3").args(["-c", script, &port.to_string()]).output().unwrap();
    assert!(out.status.success(), "the metrics do not parse: {}", common::text(&out.stderr));
    common::text(&out.stdout)
        .lines()
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn alerts_tell_each_change_once_remind_and_recover_and_metrics_match_the_log() {
    let env = Env::new();
    common::tls::certificates(env.dir.path(), "IP:127.0.0.1");
    let (smtp, smtp_port) = Smtp::start(env.dir.path(), "plain");
    let (starttls, starttls_port) = Smtp::start(env.dir.path(), "starttls");
    let (implicit, implicit_port) = Smtp::start(env.dir.path(), "implicit");
    let (hooks, hook_port) = Receiver::start();
    let metrics_port = free_port();
    std::fs::write(env.path("smtp-password"), format!("{SMTP_PASSWORD}\n")).unwrap();
    // A secret file others may read is refused at start (config_check.rs).
    std::fs::set_permissions(env.path("smtp-password"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sql(&env.path("app.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1), (2);");
    let config = write_config(
        &env,
        &format!(
            r#"
[alerts]
repeat = "6s"
email = [
  {{ smtp = "smtp://127.0.0.1:{smtp_port}", tls = "none", from = "lifeboat@example.com", to = ["ops@example.com"], user = "ops", password = "{SMTP_PASSWORD}" }},
  {{ smtp = "smtp://127.0.0.1:{starttls_port}", cacert = "ca.pem", from = "lifeboat@example.com", to = ["ops@example.com"], user = "ops", password_env = "SMTP_PASSWORD" }},
  {{ smtp = "smtps://127.0.0.1:{implicit_port}", cacert = "ca.pem", from = "lifeboat@example.com", to = ["ops@example.com"], user = "ops", password_file = "smtp-password" }},
]
webhook = [{{ url = "http://127.0.0.1:{hook_port}/json", format = "json" }}, {{ url = "http://127.0.0.1:{hook_port}/slack/T000/SECRET", format = "slack" }}]

[metrics]
listen = "127.0.0.1:{metrics_port}"

[[databases]]
name = "app"
url = "app.db"
[databases.schedule]
hourly = "* * * * * *"

[[databases]]
name = "flaky"
url = "flaky.db"
[databases.schedule]
hourly = "*/2 * * * * *"
"#
        ),
    );
    let config_arg = config.to_str().unwrap();

    // `alerts test` reaches every channel: plain to a local relay, STARTTLS and implicit TLS
    // (each checked against the test's own CA), each with its login.
    let out = env.cmd(&["alerts", "test", "--json", "--config", config_arg]).env("SMTP_PASSWORD", SMTP_PASSWORD).output().unwrap();
    let tested: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tested["ok"], true, "{tested}");
    assert_shape(&tested, &table("`lifeboat alerts test`", 0), "alerts test");
    for server in [&smtp, &starttls, &implicit] {
        assert_eq!(server.mails().len(), 1);
        assert!(server.mails()[0].0.contains("test alert"));
    }
    assert_eq!(hooks.on("/json")[0]["kind"], "test");

    // flaky.db does not exist: its backups fail. One alert for the change, however many
    // backups fail, then a reminder after `repeat`.
    let mut daemon = Daemon::start_with(&env, &config, &[("SMTP_PASSWORD", SMTP_PASSWORD)]);
    daemon.wait_for("the first alert", |_, _| smtp.mails().len() >= 2);
    let first = smtp.mails()[1].clone();
    assert!(first.0.contains("flaky") && first.0.contains("critical"), "{first:?}");
    assert!(first.1.contains("flaky.db"), "the alert says what failed: {}", first.1);
    daemon.wait_for("a reminder", |_, _| smtp.mails().len() >= 3);
    let log = jobs(&config);
    assert!(count(&log, "flaky", "backup", "failed") >= 3, "several failures, one alert: {log:?}");
    let reminder = smtp.mails()[2].clone();
    assert!(reminder.0.contains("reminder"), "{reminder:?}");

    // The database appears: its next backup works, and that is told once.
    sql(&env.path("flaky.db"), "CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    daemon.wait_for("a recovery alert", |_, _| smtp.mails().iter().any(|(subject, _)| subject.contains("recovered")));
    let mails_then = smtp.mails().len();

    // Metrics, parsed by Prometheus' parser, say what the job log says.
    let metrics = scrape(metrics_port);
    let log = jobs(&config);
    let failed = count(&log, "flaky", "backup", "failed") as f64;
    let all_failed = log.iter().filter(|j| j["kind"] == "backup" && j["status"] == "failed").count() as f64;
    assert!(failed >= 3.0);
    assert_eq!(metrics.get("lifeboat_jobs_total{kind=backup,status=failed}"), Some(&all_failed), "{metrics:?}");
    let last_app = log.iter().rev().find(|j| j["database"] == "app" && j["kind"] == "backup" && j["status"] == "ok").unwrap();
    let started: jiff::Timestamp = last_app["started_at"].as_str().unwrap().parse().unwrap();
    let scraped = metrics["lifeboat_backup_last_success_timestamp_seconds{class=hourly,database=app}"];
    assert!((scraped - started.as_millisecond() as f64 / 1000.0).abs() < 2.0, "{scraped} vs {started}");
    assert_eq!(metrics.get("lifeboat_repository_snapshots{}").copied(), Some(env.snapshot_count() as f64));
    assert!(metrics.contains_key("lifeboat_health_level{database=flaky}"));

    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    assert_eq!(smtp.mails().len(), mails_then, "nothing more once all is well");
    for server in [&starttls, &implicit] {
        assert_eq!(server.mails().len(), mails_then, "every channel got every alert");
    }

    // Every channel got the same alerts: JSON with the level and text, Slack's `text`.
    let json = hooks.on("/json");
    assert_eq!(json.len(), smtp.mails().len(), "{json:?}");
    assert!(json.iter().any(|a| a["kind"] == "change" && a["level"] == "critical"));
    assert!(hooks.on("/slack/T000/SECRET").iter().all(|a| a["text"].as_str().unwrap().starts_with("*lifeboat: ")));

    // Secrets stay secret: not in the daemon's lines, not in the mails; the webhook's path
    // (Slack's secret) is not printed either.
    let events = daemon.events();
    assert!(events.contains("alert sent"), "{events}");
    for secret in [SMTP_PASSWORD, "T000/SECRET"] {
        assert!(!events.contains(secret), "`{secret}` in the daemon's lines:\n{events}");
        assert!(smtp.mails().iter().all(|(_, text)| !text.contains(SMTP_PASSWORD)));
    }

    // A channel that cannot be reached is reported, with a non-zero exit.
    let broken = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("127.0.0.1:{hook_port}/json"), &format!("127.0.0.1:{}/json", free_port()));
    std::fs::write(&config, broken).unwrap();
    let out = env.run(&["alerts", "test", "--config", config_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::text(&out.stdout).contains("FAILED: webhook http://127.0.0.1:"), "{}", common::text(&out.stdout));
}
