//! Access on the host: API tokens, dashboard users and the audit log, driven through the real
//! binary on a real state directory. The paths of a tired admin (a taken name, a short
//! password, a typo in a role) change nothing and say so; the paths of someone who edits
//! `state.db` behind lifeboat's back are found by `audit verify`.

mod common;

use std::{path::Path, process::Output};

use common::{
    Env,
    json_doc::{assert_shape, table},
    text,
};
use serde_json::Value;

struct Host {
    env: Env,
}

impl Host {
    fn new() -> Self {
        Self { env: Env::new() }
    }

    fn state(&self) -> std::path::PathBuf {
        self.env.path("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.cmd(args).env("LIFEBOAT_STATE_DIR", self.state()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "lifeboat {args:?}:\n{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs and expects exit `code` with nothing changed; returns stderr.
    fn refused(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "lifeboat {args:?}:\n{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stderr)
    }

    /// `audit verify --json` when it fails: exit 1, the verdict on stdout.
    fn broken_chain(&self) -> Value {
        let out = self.run(&["audit", "verify", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn sqlite(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A token is shown once and only its hash is kept; the list shows who may do what, never a
/// secret; revoking removes it; every change is in the audit log.
#[test]
fn a_token_is_shown_once_stored_as_a_hash_listed_without_it_and_revoked() {
    let host = Host::new();
    let added = host.json(&["token", "add", "ci", "--role", "operator", "--database", "app,shop", "--expires", "90d"]);
    assert_shape(&added, &table("`lifeboat token add`", 0), "token add");
    let token = added["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("lb_") && token.len() >= 3 + 12 + 1 + 43, "{token}");
    let secret = token.rsplit_once('_').unwrap().1;
    let stored = std::fs::read(host.state().join("state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(secret), "the token itself is not stored");

    let plain = host.ok(&["token", "add", "viewer-bot", "--role", "viewer"]);
    assert!(plain.trim().starts_with("lb_") && plain.lines().count() == 1, "text output is the token alone: {plain}");
    let listed = host.json(&["token", "list"]);
    assert_shape(&listed, &table("`lifeboat token list`", 0), "token list");
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_shape(&tokens[0], &table("Token", 0), "a token");
    assert_eq!((&tokens[0]["name"], &tokens[0]["role"]), (&"ci".into(), &"operator".into()));
    assert_eq!(tokens[0]["databases"], serde_json::json!(["app", "shop"]));
    assert!(tokens[0]["expires_at"].is_string() && tokens[1]["expires_at"].is_null() && tokens[0]["last_used_at"].is_null());
    let text_list = host.ok(&["token", "list"]);
    assert!(text_list.contains("ci") && !text_list.contains(secret), "{text_list}");

    // A taken name, a role that is not one, a name that cannot be: exit 2, nothing changed.
    assert!(host.refused(&["token", "add", "ci", "--role", "viewer"], 2).contains("already a token named `ci`"));
    let typo = host.refused(&["token", "add", "deploy", "--role", "admn"], 2);
    assert!(typo.contains("`admn` is not a role") && typo.contains("operator"), "{typo}");
    assert!(host.refused(&["token", "add", "bad name", "--role", "viewer"], 2).contains("cannot be a token's name"));
    assert_eq!(host.json(&["token", "list"])["tokens"].as_array().unwrap().len(), 2, "nothing was added");

    let revoked = host.json(&["token", "revoke", "ci"]);
    assert_shape(&revoked, &table("`lifeboat token revoke`, `user add`, `user passwd`, `user remove`", 0), "token revoke");
    assert_eq!(revoked["action"], "token.revoke");
    assert!(host.refused(&["token", "revoke", "ci"], 2).contains("there is no token named `ci`"));
    let names: Vec<Value> = host.json(&["token", "list"])["tokens"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, ["viewer-bot"]);

    let audit = host.json(&["audit"]);
    assert_shape(&audit, &table("`lifeboat audit`", 0), "audit");
    let actions: Vec<(&str, &str)> =
        audit["rows"].as_array().unwrap().iter().map(|r| (r["action"].as_str().unwrap(), r["target"].as_str().unwrap())).collect();
    assert_eq!(actions, [("token.add", "ci"), ("token.add", "viewer-bot"), ("token.revoke", "ci")], "refused changes are not changes");
    for row in audit["rows"].as_array().unwrap() {
        assert_shape(row, &table("Audit row", 0), "an audit row");
        assert_eq!((&row["source"], &row["outcome"]), (&"cli".into(), &"ok".into()));
        assert!(!row.to_string().contains(secret), "no token in the audit log: {row}");
    }
}

/// Users: the password from a file (a short one refused), a TOTP enrolment with a URI an
/// authenticator app reads, list, passwd, remove; all audited.
#[test]
fn users_get_a_password_and_a_second_factor_and_every_change_is_audited() {
    let host = Host::new();
    let short = write(&host.env.path("short"), "too short\n");
    let err = host.refused(&["user", "add", "alice", "--role", "admin", "--user-password-file", &short], 2);
    assert!(err.contains("shorter than 12 characters"), "{err}");
    let good = write(&host.env.path("good"), "correct horse battery staple\n");
    let added = host.json(&["user", "add", "alice", "--role", "admin", "--user-password-file", &good]);
    assert_eq!((&added["action"], &added["name"]), (&"user.add".into(), &"alice".into()));
    host.ok(&["user", "add", "bob", "--role", "viewer", "--database", "app", "--user-password-file", &good]);
    assert!(host.refused(&["user", "add", "bob", "--role", "viewer", "--user-password-file", &good], 2).contains("already a user"));
    // No terminal and no file: said, not hung.
    assert!(host.refused(&["user", "passwd", "bob"], 2).contains("--user-password-file"));

    let enrolled = host.json(&["user", "totp", "alice"]);
    assert_shape(&enrolled, &table("`lifeboat user totp`", 0), "user totp");
    let secret = enrolled["secret"].as_str().unwrap();
    assert!(secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)), "base32: {secret}");
    assert_eq!(
        enrolled["uri"],
        format!("otpauth://totp/lifeboat%3Aalice?secret={secret}&issuer=lifeboat&algorithm=SHA1&digits=6&period=30")
    );
    let shown = host.ok(&["user", "totp", "bob"]);
    assert!(shown.contains("otpauth://totp/lifeboat%3Abob") && shown.contains('█'), "a QR code and the URI: {shown}");

    let users = host.json(&["user", "list"]);
    assert_shape(&users, &table("`lifeboat user list`", 0), "user list");
    let listed: Vec<(Value, Value, Value)> =
        users["users"].as_array().unwrap().iter().map(|u| (u["name"].clone(), u["role"].clone(), u["totp"].clone())).collect();
    assert_eq!(listed, [("alice".into(), "admin".into(), true.into()), ("bob".into(), "viewer".into(), true.into())]);
    assert_shape(&users["users"][0], &table("User", 0), "a user");
    let stored = String::from_utf8_lossy(&std::fs::read(host.state().join("state.db")).unwrap()).into_owned();
    assert!(!stored.contains("correct horse battery staple"), "only the Argon2id hash is kept");
    assert!(stored.contains("$argon2id$"), "the hash is Argon2id");

    host.ok(&["user", "passwd", "bob", "--user-password-file", &good]);
    host.ok(&["user", "remove", "bob"]);
    assert!(host.refused(&["user", "remove", "bob"], 2).contains("there is no user named `bob`"));
    let actions: Vec<String> = host.json(&["audit"])["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["action"].as_str().unwrap(), r["target"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, ["user.add alice", "user.add bob", "user.totp alice", "user.totp bob", "user.passwd bob", "user.remove bob"]);
}

/// `audit verify` holds for the log as written, and finds a row edited with `sqlite3` and a
/// row removed from the middle, naming where the chain breaks; `--since` filters.
#[test]
fn audit_verify_finds_an_edited_row_and_a_removed_one() {
    let host = Host::new();
    for name in ["one", "two", "three", "four"] {
        host.ok(&["token", "add", name, "--role", "viewer"]);
    }
    let verdict = host.json(&["audit", "verify"]);
    assert_shape(&verdict, &table("`lifeboat audit verify`", 0), "audit verify");
    assert_eq!((&verdict["ok"], &verdict["rows"], &verdict["head_id"]), (&true.into(), &4.into(), &4.into()));
    assert!(host.ok(&["audit", "verify"]).contains("audit verify: OK, 4 rows"));
    assert_eq!(host.json(&["audit", "--since", "1h"])["rows"].as_array().unwrap().len(), 4);
    host.sqlite("UPDATE audit SET at = '2020-01-01T00:00:00Z' WHERE id = 1");
    // (an edit breaks the chain, whichever field it touches; --since reads the edited time)
    assert_eq!(host.json(&["audit", "--since", "1h"])["rows"].as_array().unwrap().len(), 3);

    let out = host.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("row 1 was changed after it was written"), "{}", text(&out.stdout));

    let host = Host::new();
    for name in ["one", "two", "three"] {
        host.ok(&["token", "add", name, "--role", "viewer"]);
    }
    host.sqlite("UPDATE audit SET actor = 'mallory' WHERE id = 2");
    let verdict = host.broken_chain();
    assert_eq!((&verdict["ok"], &verdict["rows"]), (&false.into(), &1.into()));
    assert!(verdict["problem"].as_str().unwrap().contains("row 2 was changed"), "{verdict}");

    let host = Host::new();
    for name in ["one", "two", "three"] {
        host.ok(&["token", "add", name, "--role", "viewer"]);
    }
    host.sqlite("DELETE FROM audit WHERE id = 2");
    let verdict = host.broken_chain();
    assert!(verdict["problem"].as_str().unwrap().contains("row 3: the row before it was removed or changed"), "{verdict}");
}

/// Without a state directory there is nowhere to keep access: said with what to do.
#[test]
fn access_commands_need_a_state_directory() {
    let env = Env::new();
    let out = env.cmd(&["token", "list"]).env_remove("LIFEBOAT_STATE_DIR").env_remove("LIFEBOAT_CONFIG").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("LIFEBOAT_STATE_DIR"), "{}", text(&out.stderr));
}
