//! Every command's `--json` output has exactly the fields `docs/json.md` documents: each
//! documented field is there (unless its type says "or absent"), and nothing undocumented is.

mod common;

use common::{
    Env,
    json_doc::{assert_shape, table},
    sql,
};
use serde_json::Value;

#[test]
fn every_json_output_has_the_documented_fields_and_no_others() {
    let snapshot = &table("Snapshot", 0);
    let env = Env::new();
    let db = env.path("shop.db");
    sql(
        &db,
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d BLOB); INSERT INTO t VALUES (1, 'x', 1.5, x'00ff'), (2, NULL, NULL, NULL);",
    );

    let other_repo = env.path("other-repo");
    let init = env.json(&["init", "--repo", other_repo.to_str().unwrap()]);
    assert_shape(&init, &table("`lifeboat init`", 0), "init");

    let backup = env.json(&["backup", db.to_str().unwrap(), "--reason", "json shapes"]);
    assert_shape(&backup, &table("`lifeboat backup`", 0), "backup");
    assert_shape(&backup["snapshot"], snapshot, "backup's snapshot");
    env.backup(&db, &[]);

    let list = env.json(&["snapshots"]);
    assert_shape(&list, &table("`lifeboat snapshots`", 0), "snapshots");
    for entry in list["snapshots"].as_array().unwrap() {
        assert_shape(entry, snapshot, "a listed snapshot");
    }

    let show = env.json(&["show", "latest", "--sample", "2"]);
    assert_shape(&show, &table("`lifeboat show`", 0), "show");
    assert_shape(&show["snapshot"], snapshot, "show's snapshot");
    assert_shape(&show["manifest"], &table("`lifeboat show`", 1), "show's manifest");
    assert_eq!(show["samples"]["t"]["rows"][1], serde_json::json!([2, null, null, null]));

    let fresh = env.json(&["restore", "latest", "--to", env.path("copy.db").to_str().unwrap()]);
    assert_shape(&fresh, &table("`lifeboat restore`", 0), "restore to a new file");
    assert!(fresh["safety_backup"].is_null(), "nothing was replaced: {fresh}");
    let over = env.json(&["restore", "latest", "--to", db.to_str().unwrap(), "--yes"]);
    assert_shape(&over, &table("`lifeboat restore`", 0), "restore over a database");
    assert_shape(&over["safety_backup"], snapshot, "restore's safety backup");

    for args in [&["verify", "latest"][..], &["verify", "--all"]] {
        let verify = env.json(args);
        assert_shape(&verify, &table("`lifeboat verify`", 0), "verify");
        assert_eq!(verify["ok"], true, "{verify}");
        assert_shape(&verify["drills"][0]["snapshot"], snapshot, "verify's snapshot");
    }

    let check = env.json(&["check", "--read-data"]);
    assert_shape(&check, &table("`lifeboat check`", 0), "check");
    assert_eq!(check["ok"], true, "{check}");

    let dry = env.json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_shape(&dry, &table("`lifeboat forget`", 0), "forget --dry-run");
    assert_shape(&dry["plan"][0]["decisions"][0]["snapshot"], snapshot, "forget's snapshot");
    let forget = env.json(&["forget", "--keep-last", "1", "--prune", "--yes"]);
    assert_shape(&forget, &table("`lifeboat forget`", 0), "forget");
    assert!(forget["removed"].as_u64().unwrap() >= 1 && forget["pruned_bytes"].is_u64(), "{forget}");

    // Errors, both lifeboat's own and the command line's, are JSON on stdout with the exit code.
    for (args, code) in [
        (&["show", "deadbeef", "--json"][..], 2),
        (&["verify", "--json"], 2),
        (&["restore", "latest", "--to", "/nonexistent/dir/x.db", "--json"], 1),
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", common::text(&out.stderr));
        let error: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e})"));
        assert_shape(&error, &table("Error", 0), "error");
        assert_eq!(error["error"]["exit_code"], code);
        assert!(!error["error"]["message"].as_str().unwrap().is_empty(), "{error}");
    }
}
