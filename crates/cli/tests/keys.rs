//! Keys: every password opens the same backups, with lifeboat and with stock restic, and no
//! change leaves the repository without a key someone can use.

mod common;

use common::{
    Env, PASSWORD,
    json_doc::{assert_shape, table},
    small_db, text,
};

/// `lifeboat ARGS --json` with `password` as the repository password; its output and exit code.
fn with_password(env: &Env, password: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = env.cmd(args).arg("--json").env("LIFEBOAT_PASSWORD", password).output().unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap_or_default())
}

fn restic_opens(env: &Env, password: &str) -> bool {
    common::restic(&env.url, password).arg("snapshots").output().unwrap().status.success()
}

#[test]
fn keys_are_added_removed_and_changed_without_ever_locking_anyone_out() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let id = env.backup(&db, &[]);
    let listed = env.json(&["key", "list"]);
    assert_shape(&listed, &table("`lifeboat key list`", 0), "key list");
    // Regression: a key made without USER in the environment (a service, cron) had no user.
    let mut init = env.cmd(&["init", "--repo", env.path("no-user-repo").to_str().unwrap()]);
    assert!(init.env_remove("USER").status().unwrap().success());
    let mut list = env.cmd(&["key", "list", "--json", "--repo", env.path("no-user-repo").to_str().unwrap()]);
    let no_user: serde_json::Value = serde_json::from_slice(&list.env_remove("USER").output().unwrap().stdout).unwrap();
    let user = no_user["keys"][0]["username"].as_str().unwrap_or_default().to_string();
    assert!(!user.is_empty() && user != "-", "{no_user}");
    let first = listed["keys"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed["keys"][0]["current"], true);

    // A second password opens the same backups, in lifeboat and in restic.
    std::fs::write(env.path("second"), "second password\n").unwrap();
    let added = env.json(&["key", "add", "--new-password-file", "second"]);
    assert_shape(&added, &table("`lifeboat key add`, `key remove`, `key passwd`", 0), "key add");
    let (code, shown) = with_password(&env, "second password", &["show", &id]);
    assert_eq!((code, shown["snapshot"]["id"].as_str()), (Some(0), Some(id.as_str())));
    assert!(restic_opens(&env, "second password"));
    let (_, keys) = with_password(&env, "second password", &["key", "list"]);
    let current: Vec<bool> = keys["keys"].as_array().unwrap().iter().map(|k| k["current"].as_bool().unwrap()).collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1, "{keys}");

    // The key in use cannot be removed; another one can.
    let err = env.fails(&["key", "remove", &first[..8]], 2);
    assert!(err.contains("opened the repository with") && err.contains("hint:"), "{err}");
    let (code, removed) = with_password(&env, "second password", &["key", "remove", &first[..8]]);
    assert_eq!((code, removed["removed"].as_str()), (Some(0), Some(first.as_str())));
    assert_eq!(env.run(&["snapshots"]).status.code(), Some(1), "the first password opens nothing now");
    assert!(!restic_opens(&env, PASSWORD));

    // The last key cannot be removed.
    let (code, refused) = with_password(&env, "second password", &["key", "list"]);
    assert_eq!(code, Some(0));
    let last = refused["keys"][0]["id"].as_str().unwrap().to_string();
    let (code, error) = with_password(&env, "second password", &["key", "remove", &last]);
    assert_eq!(code, Some(2));
    assert!(error["error"]["message"].as_str().unwrap().contains("only key"), "{error}");

    // passwd: the new password works, the old one does not, in lifeboat and in restic.
    std::fs::write(env.path("third"), "third password\n").unwrap();
    let (code, changed) = with_password(&env, "second password", &["key", "passwd", "--new-password-file", "third"]);
    assert_eq!((code, changed["removed"].as_str()), (Some(0), Some(last.as_str())), "{changed}");
    assert_eq!(with_password(&env, "second password", &["snapshots"]).0, Some(1));
    let (code, list) = with_password(&env, "third password", &["snapshots"]);
    assert_eq!((code, list["snapshots"][0]["id"].as_str()), (Some(0), Some(id.as_str())));
    assert!(restic_opens(&env, "third password") && !restic_opens(&env, "second password"));

    // An empty new password changes nothing.
    std::fs::write(env.path("empty"), "\n").unwrap();
    let out = env.cmd(&["key", "passwd", "--new-password-file", "empty"]).env("LIFEBOAT_PASSWORD", "third password").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing was changed"));
    assert_eq!(with_password(&env, "third password", &["key", "list"]).1["keys"].as_array().unwrap().len(), 1);
}

/// scrypt's parameters of every key file in the repository: (N, r, p).
fn kdf_parameters(env: &Env) -> Vec<(u64, u64, u64)> {
    let keys = std::fs::read_dir(env.repo.join("keys")).unwrap();
    keys.map(|entry| {
        let file: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        (file["N"].as_u64().unwrap(), file["r"].as_u64().unwrap(), file["p"].as_u64().unwrap())
    })
    .collect()
}

#[test]
fn new_keys_cost_a_guesser_as_much_as_before_and_open_on_two_cores() {
    let env = Env::new();
    // rustic's single-lane parameters were N = 2^17, r = 8, p = 1: the work per guess, N·r·p,
    // must not drop; two lanes let opening use two cores.
    let before = 1u64 << 17 << 3;
    assert_eq!(kdf_parameters(&env), vec![(1 << 16, 8, 2)], "init writes one key of two lanes");
    std::fs::write(env.path("second"), "second password\n").unwrap();
    env.json(&["key", "add", "--new-password-file", "second"]);
    for (n, r, p) in kdf_parameters(&env) {
        assert_eq!((n * r * p, p), (before, 2));
    }
    assert!(restic_opens(&env, PASSWORD) && restic_opens(&env, "second password"));

    // A key restic made, with restic's own parameters, opens the repository in lifeboat.
    let pw = env.path("restic-pw");
    std::fs::write(&pw, "restic's password\n").unwrap();
    let out = common::restic(&env.url, PASSWORD).args(["key", "add", "--new-password-file"]).arg(&pw).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(kdf_parameters(&env).len(), 3);
    let (code, keys) = with_password(&env, "restic's password", &["key", "list"]);
    assert_eq!((code, keys["keys"].as_array().map(Vec::len)), (Some(0), Some(3)), "{keys}");
}
