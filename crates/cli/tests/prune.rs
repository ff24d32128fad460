//! What `forget --prune` frees: as much as stock restic's prune on a copy of the same
//! repository, at once, and packs no index names (a killed writer's leftovers) too.

mod common;

use std::path::Path;

use common::{Env, sql, walk};

/// The bytes of every file below `dir`.
fn bytes_below(dir: &Path) -> u64 {
    walk(dir).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum()
}

/// Five backups of a database whose rows are replaced each time, so that each backup's data
/// is its own: after keeping the last one, four fifths of the data is garbage.
fn five_backups(env: &Env) -> std::path::PathBuf {
    let db = env.path("app.db");
    sql(&db, "PRAGMA journal_mode=wal; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
    for round in 0..5 {
        sql(
            &db,
            &format!(
                "DELETE FROM t; WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1500)
                 INSERT INTO t SELECT n + {round} * 100000, randomblob(2000) FROM g; VACUUM;"
            ),
        );
        env.backup(&db, &[]);
    }
    db
}

fn copy_dir(from: &Path, to: &Path) {
    assert!(std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap().success());
}

#[test]
fn prune_frees_what_restic_prune_frees_and_says_what_left_the_disk() {
    let env = Env::new();
    let db = five_backups(&env);
    let copy = env.path("copy");
    copy_dir(&env.repo, &copy);
    let before = bytes_below(&env.repo);

    let pruned = env.json(&["forget", "--keep-last", "1", "--prune", "--yes"]);
    let after = bytes_below(&env.repo);
    // restic's own prune, on the same repository as it was.
    let out = common::restic(&copy, common::PASSWORD).args(["forget", "--keep-last", "1", "--prune"]).output().unwrap();
    assert!(out.status.success(), "restic prune: {}", common::text(&out.stderr));
    let restic_after = bytes_below(&copy);

    // Regression: rustic's default prune only marked packs, and lifeboat left 5x restic's size.
    assert!(after <= restic_after + restic_after / 10, "lifeboat left {after} bytes, restic {restic_after} (from {before})");
    assert!(after < before / 2, "four of five backups' data was freed: {before} -> {after}");
    let freed = pruned["pruned_bytes"].as_u64().unwrap();
    let gone = before - after;
    assert!(freed.abs_diff(gone) <= gone / 100 + 4096, "reported {freed} freed, {gone} left the disk");

    // Stock restic finds nothing left over, and the kept backup restores.
    let check = common::restic(&env.url, common::PASSWORD).arg("check").output().unwrap();
    let said = common::text(&check.stdout) + &common::text(&check.stderr);
    assert!(check.status.success() && !said.contains("additional files"), "{said}");
    let back = env.path("back.db");
    env.ok(&["restore", "latest", "--to", back.to_str().unwrap()]);
    assert_eq!(common::dump(&back), common::dump(&db));
}

#[test]
fn a_pack_no_index_names_is_reported_by_check_and_removed_by_prune() {
    let env = Env::new();
    let db = env.path("app.db");
    common::small_db(&db);
    env.backup(&db, &[]);
    // What a writer killed after uploading a pack and before writing its index leaves: a
    // complete pack file (a copy of a real one under a new id) that no index names.
    let pack = walk(&env.repo.join("data")).into_iter().next().unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap();
    let orphan_name = format!("{}{}", &name[..2], "f".repeat(62));
    let orphan = pack.with_file_name(&orphan_name);
    std::fs::copy(&pack, &orphan).unwrap();

    let check = env.json(&["check"]);
    let findings = check["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["error"] == false && f["message"].as_str().unwrap().contains("named by no index")), "{check}");
    let text = env.ok(&["check"]);
    assert!(text.contains("lifeboat forget --prune") && !text.contains("rustic"), "{text}");

    let size = std::fs::metadata(&orphan).unwrap().len();
    let pruned = env.json(&["forget", "--keep-last", "1", "--prune", "--yes"]);
    assert!(!orphan.exists(), "the unindexed pack was removed");
    assert!(pruned["pruned_bytes"].as_u64().unwrap() >= size, "{pruned}");
    assert!(env.json(&["check"])["findings"].as_array().unwrap().is_empty());
}
