//! S3-compatible repositories: what lifeboat writes stock restic reads with the same URL, and
//! every way the storage fails (credentials, bucket, endpoint, certificate, a server that dies
//! mid-backup, a network that drops connections, a mirror that is down) is a clear error that
//! loses nothing. Real servers: moto and s3s-fs (see `common/s3.rs`), a TCP proxy of ours.

mod common;

use std::sync::atomic::Ordering;

use common::{
    Env, PASSWORD, big_db, dump,
    proxy::Proxy,
    s3::{ACCESS_KEY, S3Server, SECRET_KEY},
    signal, small_db, text, two_backups, wait_until,
};

/// A repository on a server reached through a proxy, and a database of some MB to back up.
struct BehindProxy {
    server: S3Server,
    proxy: Proxy,
    url: String,
    env: Env,
    db: std::path::PathBuf,
}

impl BehindProxy {
    fn new(server: S3Server, drop_every: usize, mb: u32) -> Self {
        let proxy = Proxy::start(server.port, drop_every);
        let url = server.url_via(proxy.port);
        let env = Env::on(&url);
        let db = env.path("big.db");
        big_db(&db, mb);
        Self { server, proxy, url, env, db }
    }

    /// The same repository's URL reaching the server directly.
    fn direct(&self) -> String {
        self.url.replace(&format!(":{}/", self.proxy.port), &format!(":{}/", self.server.port))
    }

    fn uploaded(&self) -> u64 {
        self.proxy.uploaded.load(Ordering::SeqCst)
    }

    /// Restores snapshot `id` and asserts it is the database byte for byte.
    fn restores_identically(&self, id: &str) {
        let restored = self.env.path("restored.db");
        let _ = std::fs::remove_file(&restored);
        self.env.ok(&["restore", id, "--to", restored.to_str().unwrap()]);
        assert_eq!(common::sha256_hex(&std::fs::read(&restored).unwrap()), common::sha256_hex(&std::fs::read(&self.db).unwrap()));
    }
}

#[test]
fn stock_restic_lists_checks_and_restores_what_lifeboat_wrote() {
    let server = S3Server::moto();
    let env = Env::on(&server.new_url());
    let (db, id, second) = two_backups(&env);

    assert!(!text(&env.restic(&["list", "packs"])).trim().is_empty(), "packs are listed under data/<2 hex>/");
    let listed = text(&env.restic(&["snapshots"]));
    assert!(listed.contains(&id[..8]) && listed.contains(&second[..8]), "{listed}");
    env.restic(&["check", "--read-data"]);
    let target = env.path("by-restic");
    env.restic(&["restore", &second[..8], "--target", target.to_str().unwrap()]);
    assert_eq!(dump(&target.join("sqlite/app/database.sqlite")), dump(&db));

    // And lifeboat reads it back: restore, drill, check.
    let restored = env.path("restored.db");
    env.ok(&["restore", &id[..8], "--to", restored.to_str().unwrap()]);
    assert_eq!(
        text(&std::process::Command::new("sqlite3").arg(&restored).arg("SELECT count(*) FROM users").output().unwrap().stdout).trim(),
        "3"
    );
    assert_eq!(env.json(&["verify", "--all"])["ok"], true);
    assert_eq!(env.json(&["check", "--read-data"])["ok"], true);
    // Prune works through the bucket too: the first backup's unique data goes.
    env.ok(&["forget", &id, "--prune", "--yes"]);
    assert_eq!(env.snapshot_count(), 1);
    env.restic(&["check", "--read-data"]);
}

#[test]
fn wrong_credentials_are_refused_and_named_never_shown() {
    let server = S3Server::s3s_fs();
    let env = Env::on(&server.new_url());
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &[]);

    let wrong_secret = "wrong-secret-5d1e";
    let out = env.cmd(&["snapshots"]).env("AWS_SECRET_ACCESS_KEY", wrong_secret).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused") && err.contains("AWS_ACCESS_KEY_ID") && err.contains(ACCESS_KEY), "{err}");
    assert!(!err.contains(wrong_secret) && !err.contains(SECRET_KEY), "no secret in errors: {err}");

    // Credentials from a configuration name that file instead.
    std::fs::write(env.path("secret"), format!("{wrong_secret}\n")).unwrap();
    std::fs::write(env.path("pw"), format!("{PASSWORD}\n")).unwrap();
    let config = env.path("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            "[repository]\nurl = \"{}\"\npassword_file = \"pw\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key_file = \"secret\"\n\n[state]\ndir = \"state\"\n",
            env.url
        ),
    )
    .unwrap();
    let out = env.cmd(&["snapshots", "--config", config.to_str().unwrap()]).env_remove("LIFEBOAT_REPO").output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("secret_access_key_file") && err.contains(env.path("secret").to_str().unwrap()), "{err}");
    assert!(!err.contains(wrong_secret), "{err}");

    // No credentials at all: said before anything is sent.
    let out = env
        .cmd(&["snapshots"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", env.path("no-home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("no S3 credentials"), "{}", text(&out.stderr));
    // The right ones still work: nothing was changed by the refusals.
    assert_eq!(env.snapshot_count(), 1);
}

/// Credentials from the shared AWS files, as the AWS tools read them: the profile AWS_PROFILE
/// names in AWS_SHARED_CREDENTIALS_FILE, or `[default]` in `~/.aws/credentials`. s3s-fs checks
/// the signatures, so a backup that lists proves the profile's secret signed it.
#[test]
fn credentials_come_from_a_profile_of_the_shared_credentials_file() {
    let server = S3Server::s3s_fs();
    let env = Env::on(&server.new_url());
    small_db(&env.path("app.db"));
    env.backup(&env.path("app.db"), &[]);
    let without_keys = |args: &[&str]| {
        let mut cmd = env.cmd(args);
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_PROFILE").env("HOME", env.path("home"));
        cmd
    };
    let file = env.path("aws-credentials");
    std::fs::write(
        &file,
        format!("[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong-secret-in-profile-7c2\n\n[lifeboat]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let listed =
        without_keys(&["snapshots", "--json"]).env("AWS_SHARED_CREDENTIALS_FILE", &file).env("AWS_PROFILE", "lifeboat").output().unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 1);

    // `[default]` of ~/.aws/credentials when no profile is named.
    std::fs::create_dir_all(env.path("home/.aws")).unwrap();
    std::fs::write(
        env.path("home/.aws/credentials"),
        format!("[default]\naws_access_key_id={ACCESS_KEY}\naws_secret_access_key={SECRET_KEY}\n"),
    )
    .unwrap();
    let out = without_keys(&["snapshots"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The wrong profile's keys are refused, naming the profile and its file, never the secret.
    let out = without_keys(&["snapshots"]).env("AWS_SHARED_CREDENTIALS_FILE", &file).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused") && err.contains("the profile `default`") && err.contains(file.to_str().unwrap()), "{err}");
    assert!(!err.contains("wrong-secret-in-profile-7c2") && !err.contains(SECRET_KEY), "{err}");
    // A profile asked for that is not there: said before anything is sent.
    let out = without_keys(&["snapshots"]).env("AWS_SHARED_CREDENTIALS_FILE", &file).env("AWS_PROFILE", "nope").output().unwrap();
    assert!(text(&out.stderr).contains("AWS_PROFILE names the profile `nope`"), "{}", text(&out.stderr));
}

/// Credentials for a role from a web identity token (Kubernetes service accounts, CI OIDC):
/// exchanged at STS (moto's) for temporary keys with a session token, which every request then
/// carries; and without a token, the instance role from the metadata service. Without either
/// there would be no credentials at all and nothing would be sent.
#[test]
fn credentials_come_from_a_web_identity_token_through_sts_or_the_instance_role() {
    let server = S3Server::moto();
    let env = Env::on(&server.new_url());
    small_db(&env.path("app.db"));
    std::fs::write(env.path("token"), "header.payload.signature\n").unwrap();
    let sts = format!("http://127.0.0.1:{}", server.port);
    let federated = |args: &[&str], sts: &str| {
        let mut cmd = env.cmd(args);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("HOME", env.path("no-home"))
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", env.path("token"))
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/lifeboat-backup")
            .env("AWS_ENDPOINT_URL_STS", sts);
        cmd.output().unwrap()
    };
    let out = federated(&["backup", env.path("app.db").to_str().unwrap()], &sts);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.snapshot_count(), 1);
    // STS that cannot be reached: a clear error naming the token, the role and the endpoint.
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let out = federated(&["snapshots"], &closed);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach STS") && err.contains("lifeboat-backup") && err.contains(&closed), "{err}");
    assert!(!err.contains("header.payload.signature"), "the token is never shown: {err}");

    // With no token either: the instance role of the metadata service (moto serves IMDSv2).
    let out = env
        .cmd(&["backup", env.path("app.db").to_str().unwrap()])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", env.path("no-home"))
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &sts)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.snapshot_count(), 2);
}

/// A container's task role (ECS, EKS Pod Identity): the keys come from the credentials
/// endpoint named by `AWS_CONTAINER_CREDENTIALS_FULL_URI`, asked with the authorization token;
/// s3s-fs checks every signature against the secret the endpoint gave. An endpoint that wants
/// a token it was not given refuses, and lifeboat says where it asked, never a key.
#[test]
fn credentials_come_from_the_container_credentials_endpoint() {
    let server = S3Server::s3s_fs();
    let env = Env::on(&server.new_url());
    small_db(&env.path("app.db"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://127.0.0.1:{}/v2/credentials/task", listener.local_addr().unwrap().port());
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn({
        let asked = asked.clone();
        move || {
            for stream in listener.incoming().flatten() {
                use std::io::{BufRead, Write};
                let mut reader = std::io::BufReader::new(&stream);
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push(line.to_lowercase());
                }
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let authorized = head.iter().any(|h| h.trim() == "authorization: task-token-5f1");
                let (status, body) = if authorized {
                    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(6);
                    let keys = serde_json::json!({"AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY, "Token": "task-session", "Expiration": expires.to_string()});
                    ("200 OK", keys.to_string())
                } else {
                    ("401 Unauthorized", r#"{"message": "no token"}"#.to_string())
                };
                let _ = write!(
                    &stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
    let in_container = |args: &[&str], token: Option<&str>| {
        let mut cmd = env.cmd(args);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("HOME", env.path("no-home"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &endpoint);
        if let Some(token) = token {
            cmd.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token);
        }
        cmd.output().unwrap()
    };
    let out = in_container(&["backup", env.path("app.db").to_str().unwrap()], Some("task-token-5f1"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.snapshot_count(), 1);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the endpoint was asked");
    let out = in_container(&["snapshots"], None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gave no credentials (HTTP 401)") && err.contains(&endpoint), "{err}");
    assert!(!err.contains(SECRET_KEY), "{err}");
    // Plain HTTP to another machine is refused before anything is sent.
    let out = env
        .cmd(&["snapshots"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", env.path("no-home"))
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.10/creds")
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("over plain HTTP off this machine"), "{}", text(&out.stderr));
}

/// An upload damaged on its way is refused by the server (the body no longer matches the
/// SHA-256 it was signed with): the backup fails, writes no snapshot, and nothing damaged is
/// ever read back. s3s-fs checks the signed hash, as AWS does (moto does not).
#[test]
fn an_upload_damaged_on_the_way_is_refused_and_never_becomes_a_backup() {
    let setup = BehindProxy::new(S3Server::s3s_fs(), 0, 8);
    let env = &setup.env;
    setup.proxy.corrupt.store(true, Ordering::SeqCst);
    let err = env.fails(&["backup", setup.db.to_str().unwrap()], 1);
    // s3s-fs answers a body that does not match its signed hash with HTTP 500, which is retried
    // (a damaged path may heal); every attempt is damaged here, so the backup fails.
    assert!(err.contains("no snapshot was written") && err.contains("PUT data/") && err.contains("5 attempts"), "{err}");
    assert!(setup.proxy.flipped.load(Ordering::SeqCst) >= 5, "each attempt was damaged");

    setup.proxy.corrupt.store(false, Ordering::SeqCst);
    assert_eq!(env.json(&["snapshots", "--repo", &setup.direct()])["snapshots"], serde_json::json!([]));
    let id = env.backup(&setup.db, &[]);
    setup.restores_identically(&id);
}

#[test]
fn a_missing_bucket_an_unreachable_endpoint_and_an_untrusted_certificate_are_explained() {
    let server = S3Server::moto();
    let env = Env::on(&server.new_url());
    let missing = server.new_url();
    let err = env.fails(&["snapshots", "--repo", &missing], 1);
    assert!(err.contains("does not exist") && err.contains("lifeboat init"), "{err}");
    env.ok(&["init", "--repo", &missing]);
    assert_eq!(env.json(&["snapshots", "--repo", &missing])["snapshots"], serde_json::json!([]), "init created the bucket");
    let err = env.fails(&["init", "--repo", &missing], 1);
    assert!(err.contains("already holds a repository"), "init never writes over one: {err}");

    // The AWS command line's `s3://bucket` is a usage error that says how to write it.
    let err = env.fails(&["snapshots", "--repo", "s3://backups/app"], 2);
    assert!(err.contains("s3:https://s3.amazonaws.com/backups/app"), "{err}");

    let nowhere = format!("s3:http://127.0.0.1:{}/lifeboat/x", common::free_port());
    let err = env.fails(&["snapshots", "--repo", &nowhere], 1);
    assert!(err.contains("after 5 attempts") && err.contains("reachable"), "{err}");

    // HTTPS with a certificate from the test's own authority.
    let tls = env.path("tls");
    std::fs::create_dir(&tls).unwrap();
    common::tls::certificates(&tls, "IP:127.0.0.1");
    let secure = S3Server::moto_tls(&tls.join("server.pem"), &tls.join("server.key"));
    let url = secure.new_url();
    assert!(url.starts_with("s3:https://"));
    let err = env.fails(&["init", "--repo", &url], 1);
    assert!(err.contains("not trusted") && err.contains("--cacert"), "{err}");
    let cacert = tls.join("ca.pem");
    env.ok(&["init", "--repo", &url, "--cacert", cacert.to_str().unwrap()]);
    let db = env.path("app.db");
    small_db(&db);
    env.ok(&["backup", db.to_str().unwrap(), "--repo", &url, "--cacert", cacert.to_str().unwrap()]);
    let restored = env.path("over-tls.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap(), "--repo", &url, "--cacert", cacert.to_str().unwrap()]);
    assert_eq!(dump(&restored), dump(&db));
}

#[test]
fn the_server_dying_mid_backup_leaves_no_snapshot_and_the_next_backup_needs_no_repair() {
    let setup = BehindProxy::new(S3Server::moto(), 0, 40);
    let env = &setup.env;
    let mut backup = env.cmd(&["backup", setup.db.to_str().unwrap()]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let before = setup.uploaded();
    wait_until(&mut backup, "4 MiB uploaded", || setup.uploaded() > before + (4 << 20));
    setup.proxy.kill();
    let out = backup.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no snapshot was written") && err.contains("attempts"), "{err}");

    // Seen directly: nothing visible, nothing damaged.
    let straight = setup.direct();
    assert_eq!(env.json(&["snapshots", "--repo", &straight])["snapshots"], serde_json::json!([]));
    env.ok(&["check", "--repo", &straight]);

    // The server is back: the next backup just works, and restores.
    setup.proxy.revive();
    let id = env.backup(&setup.db, &[]);
    env.ok(&["check", "--read-data"]);
    setup.restores_identically(&id);
}

#[test]
fn a_network_that_drops_connections_is_retried() {
    let setup = BehindProxy::new(S3Server::moto(), 4, 12);
    let id = setup.env.backup(&setup.db, &[]);
    setup.restores_identically(&id);
    setup.env.ok(&["check", "--read-data"]);
    let dropped = setup.proxy.dropped.load(Ordering::SeqCst);
    assert!(dropped >= 3, "the proxy cut {dropped} of {} connections", setup.proxy.connections.load(Ordering::SeqCst));
}

#[test]
fn locks_live_in_the_bucket_where_restic_and_other_hosts_see_them() {
    let setup = BehindProxy::new(S3Server::moto(), 0, 30);
    let env = &setup.env;
    let mut backup = env.cmd(&["backup", setup.db.to_str().unwrap()]).spawn().unwrap();
    let before = setup.uploaded();
    wait_until(&mut backup, "a pack upload", || setup.uploaded() > before + (2 << 20));
    signal(&backup, "STOP");

    let locks = text(&env.restic(&["list", "locks", "--no-lock"]));
    assert_eq!(locks.lines().count(), 1, "restic sees the backup's lock: {locks}");
    let err = env.fails(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"], 1);
    assert!(err.contains("locked by") && err.contains("shared lock"), "{err}");

    signal(&backup, "CONT");
    assert!(backup.wait().unwrap().success());
    assert_eq!(text(&env.restic(&["list", "locks", "--no-lock"])).trim(), "", "released");
    env.ok(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"]);
}

#[test]
fn a_changed_password_opens_an_s3_repository_and_the_old_one_does_not() {
    let server = S3Server::moto();
    let env = Env::on(&server.new_url());
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &[]);
    std::fs::write(env.path("new-password"), "a new password\n").unwrap();
    env.ok(&["key", "passwd", "--new-password-file", "new-password"]);
    let err = env.fails(&["snapshots"], 1);
    assert!(err.contains("password does not open"), "{err}");
    let out = env.cmd(&["snapshots", "--json"]).env("LIFEBOAT_PASSWORD", "a new password").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = common::restic(&env.url, "a new password").arg("snapshots").output().unwrap();
    assert!(out.status.success(), "restic opens it with the new password: {}", text(&out.stderr));
}

#[test]
fn a_folder_copied_to_an_s3_mirror_restores_from_the_mirror_alone() {
    let server = S3Server::moto();
    let env = Env::new();
    let (db, _, _) = two_backups(&env);
    let mirror = server.new_url();
    env.ok(&["init", "--repo", &mirror]);
    std::fs::write(env.path("mirror-password"), format!("{PASSWORD}\n")).unwrap();
    let copy = ["copy", "--all", "--to", &mirror, "--to-password-file", "mirror-password"];
    let copied = env.json(&copy);
    assert_eq!(copied["copied"].as_array().unwrap().len(), 2, "{copied}");
    assert_eq!(env.json(&copy)["copied"], serde_json::json!([]), "only what it lacks");

    std::fs::rename(&env.repo, env.path("primary-gone")).unwrap();
    let restored = env.path("from-mirror.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap(), "--repo", &mirror]);
    assert_eq!(dump(&restored), dump(&db));
    assert_eq!(env.json(&["check", "--read-data", "--repo", &mirror])["ok"], true);
}

#[test]
fn the_daemon_catches_up_an_s3_mirror_that_was_down() {
    use common::daemon::{Daemon, count, jobs, write_config};
    let server = S3Server::moto();
    let proxy = Proxy::start(server.port, 0);
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let mirror = server.url_via(proxy.port);
    env.ok(&["init", "--repo", &mirror]);
    proxy.kill();
    // The daemon takes the mirror's credentials from its configuration.
    std::fs::write(env.path("s3-secret"), format!("{SECRET_KEY}\n")).unwrap();
    std::fs::set_permissions(env.path("s3-secret"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = write_config(
        &env,
        &format!(
            "[[mirrors]]\nurl = \"{mirror}\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key_file = \"s3-secret\"\ncheck = \"*/2 * * * * *\"\n\n[[databases]]\nname = \"app\"\nurl = \"app.db\"\n[databases.schedule]\nhourly = \"* * * * * *\"\n"
        ),
    );
    let mut daemon = Daemon::start(&env, &config);
    daemon.wait_for("backups while the mirror is down", |_, jobs| {
        count(jobs, "app", "backup", "ok") >= 2 && jobs.iter().any(|j| j["kind"] == "copy" && j["status"] == "failed")
    });
    proxy.revive();
    daemon.wait_for("a copy to the mirror and a check of it", |_, jobs| {
        let ok = |kind: &str| jobs.iter().any(|j| j["kind"] == kind && j["status"] == "ok" && j["repository"] == mirror.as_str());
        ok("copy") && ok("check")
    });
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    let failed = jobs(&config).into_iter().find(|j| j["kind"] == "copy" && j["status"] == "failed").unwrap();
    assert!(failed["error"].as_str().unwrap().contains("attempts"), "{failed}");
    let mirrored = env.json(&["snapshots", "--repo", &mirror])["snapshots"].as_array().unwrap().len();
    let primary = env.snapshot_count();
    assert!(mirrored >= 2 && mirrored <= primary, "the copies it missed were made: {mirrored} of {primary}");
    let restored = env.path("from-mirror.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap(), "--repo", &mirror]);
    assert_eq!(dump(&restored), dump(&db));

    // Health tells each repository's freshness and last check.
    let out = env.run(&["health", "--json", "--config", config.to_str().unwrap()]);
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let there = &health["mirrors"][0];
    assert_eq!((there["reachable"].as_bool(), there["last_check"]["status"].as_str()), (Some(true), Some("ok")), "{health}");
    assert!(there["newest"]["app"].is_string(), "{health}");
    assert!(health["repository"]["bytes"].as_u64().unwrap() > 0, "{health}");
    assert!(health["repository"]["last_check"].is_null(), "no check of the primary ran: {health}");
}
