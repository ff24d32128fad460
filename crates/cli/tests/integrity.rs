//! SQLite's integrity policy and catalog reuse: a quick check at backup, the full check in every
//! drill, a restore that stands on the checks recorded for its very bytes (and runs one itself
//! only when none passed, or a drill of that backup failed), and a catalog read anew whenever a
//! single page changed.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

/// A rollback-journal database with an index, half its rows deleted (so it has free pages).
fn indexed_db(path: &Path) {
    sql(
        path,
        "CREATE TABLE t(a INTEGER, b TEXT); CREATE INDEX i ON t(a);
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000) INSERT INTO t SELECT n, 'x' || n FROM g;
         DELETE FROM t WHERE a % 2 = 0;",
    );
}

fn manifest(env: &Env, id: &str) -> serde_json::Value {
    env.json(&["show", id])["manifest"].clone()
}

/// `lifeboat ARGS` with a job log in the test's folder.
fn logged(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd(args).env("LIFEBOAT_STATE_DIR", env.path("state")).output().unwrap()
}

#[test]
fn a_damaged_index_passes_the_quick_check_and_the_drill_finds_it() {
    let env = Env::new();
    let db = env.path("idx.db");
    indexed_db(&db);
    // The index now claims to cover column b, but holds a's values: every structure is sound,
    // only the index disagrees with its table.
    sql(&db, "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = 'CREATE INDEX i ON t(b)' WHERE name = 'i';");
    let id = env.backup(&db, &[]);
    let m = manifest(&env, &id);
    assert_eq!((m["properties"]["integrity_level"].as_str(), m["properties"]["integrity_check"].as_str()), (Some("quick"), Some("ok")));

    let out = logged(&env, &["verify", &id]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("missing from index i") && report.contains("verify: FAILED"), "{report}");

    // A restore does not trust a backup whose drill failed: it runs the full check and
    // refuses the copy. So does one asked to check in full.
    let out = logged(&env, &["restore", &id, "--to", env.path("back.db").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing from index i"), "{}", text(&out.stderr));
    assert!(!env.path("back.db").exists());
    let err = env.fails(&["restore", &id, "--to", env.path("back.db").to_str().unwrap(), "--check", "full"], 1);
    assert!(err.contains("missing from index i"), "{err}");
    assert!(!env.path("back.db").exists());
    // Knowing of no drill, a restore stands on the quick check that passed on these bytes
    // and gives back the database exactly as it was backed up, index and all.
    let report = env.json(&["restore", &id, "--to", env.path("back.db").to_str().unwrap()]);
    assert_eq!((report["check"]["integrity_now"].clone(), report["check"]["integrity_at_backup"].clone()), (json!(null), json!("quick")));
    assert_eq!(dump(&env.path("back.db")), dump(&db));

    // Asked for, the full check runs at backup: a warning, and the findings in the manifest.
    let out = env.run(&["backup", db.to_str().unwrap(), "--integrity", "full", "--json"]);
    assert!(out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("warning: the database failed its integrity check"), "{said}");
    // The engine's own repair hint, and the findings as text (not a JSON array).
    assert!(said.contains("sqlite3 app.db .recover") && !said.contains("check ([") && !said.contains("check (\""), "{said}");
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = manifest(&env, id["snapshot"]["id"].as_str().unwrap());
    assert_eq!(m["properties"]["integrity_level"], "full");
    assert!(m["properties"]["integrity_check"].to_string().contains("missing from index i"));
}

#[test]
fn a_damaged_page_is_caught_by_the_quick_check_at_backup() {
    let env = Env::new();
    let db = env.path("free.db");
    indexed_db(&db);
    // The header's first freelist trunk page now points past the end of the file.
    {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.seek(std::io::SeekFrom::Start(32)).unwrap();
        file.write_all(&999u32.to_be_bytes()).unwrap();
    }
    let out = env.run(&["backup", db.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "the backup keeps a damaged database: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Freelist: invalid page number 999"), "{}", text(&out.stderr));
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["snapshot"]["id"].as_str().unwrap().to_string();
    assert!(manifest(&env, &id)["properties"]["integrity_check"].to_string().contains("Freelist"));
    let back = env.path("back.db");
    let err = env.fails(&["restore", &id, "--to", back.to_str().unwrap()], 1);
    assert!(err.contains("--accept-damaged"), "{err}");
    env.ok(&["restore", &id, "--to", back.to_str().unwrap(), "--accept-damaged"]);
    assert_eq!(count(&back, "t"), 1000);
}

#[test]
fn an_unchanged_database_reuses_its_catalog_and_a_changed_one_never_does() {
    for wal in [false, true] {
        let env = Env::new();
        let db = env.path("same.db");
        sql(
            &db,
            &format!(
                "PRAGMA journal_mode={}; CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('aaaa'), ('cccc');",
                if wal { "wal" } else { "delete" }
            ),
        );
        // The application keeps a connection open, as a real one does (WAL frames stay).
        let app = rusqlite::Connection::open(&db).unwrap();
        let first = env.backup(&db, &[]);
        let again = env.backup(&db, &[]);
        let (m1, m2) = (manifest(&env, &first), manifest(&env, &again));
        // In rollback mode the catalog waits for the image, so it is always reused; in WAL
        // mode it is read beside the image and stopped when the image ends unchanged, but a
        // scan this small may well end first, and is then just as right.
        if !wal {
            assert_eq!(m2["properties"]["catalog_reused"], true);
        }
        assert_eq!(m1["properties"]["image_xxh3"], m2["properties"]["image_xxh3"]);
        assert_eq!(m1["tables"], m2["tables"]);

        // One value changes; the file keeps its size and mtime. The next catalog is read anew.
        let before = std::fs::metadata(&db).unwrap();
        app.execute_batch("UPDATE t SET v = 'bbbb' WHERE v = 'aaaa'").unwrap();
        std::fs::File::options().write(true).open(&db).unwrap().set_modified(before.modified().unwrap()).unwrap();
        let changed = env.backup(&db, &[]);
        let m3 = manifest(&env, &changed);
        assert!(m3["properties"].get("catalog_reused").is_none(), "wal {wal}: {m3}");
        assert_ne!(m3["properties"]["image_xxh3"], m2["properties"]["image_xxh3"]);
        assert_ne!(m3["streams"][0]["sha256"], m2["streams"][0]["sha256"]);
        assert!(env.ok(&["verify", &changed]).contains("verify: OK"));

        // A quick-checked backup restores on the strength of that check, and says so.
        let out = env.json(&["restore", &changed, "--to", env.path("r.db").to_str().unwrap()]);
        assert!(out["vouched_by"].to_string().contains("the quick integrity check passed on them"), "{out}");
        assert!(dump(&env.path("r.db")).contains("'bbbb'"));
    }
}

#[test]
fn a_restore_stands_on_the_checks_recorded_for_its_very_bytes_and_says_which() {
    let env = Env::new();
    let db = env.path("app.db");
    indexed_db(&db);
    let before = dump(&db);
    // In this order, as each level checks more than the last: a backup of an unchanged
    // database reuses the previous integrity result only when that one checked as much.
    let unchecked = env.backup(&db, &["--integrity", "off"]);
    let quick = env.backup(&db, &[]);
    let full = env.backup(&db, &["--integrity", "full"]);
    let restore = |id: &str, to: &str, extra: &[&str]| -> serde_json::Value {
        let out = logged(&env, &[&["restore", id, "--to", to, "--json"], extra].concat());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(dump(&env.path(to)), before, "{report}");
        report
    };
    let checks = |report: &serde_json::Value| (report["check"]["integrity_now"].clone(), report["check"]["integrity_at_backup"].clone());
    let vouched = |report: &serde_json::Value| {
        report["vouched_by"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };

    // By default the backup's own check stands: nothing is re-run on the same bytes.
    let report = restore(&quick, "a.db", &[]);
    assert_eq!(checks(&report), (json!(null), json!("quick")));
    let said = vouched(&report);
    assert!(said[0].contains("SHA-256 matched the manifest"), "{said:?}");
    assert!(said.iter().any(|s| s.contains("the quick integrity check passed on them")), "{said:?}");
    assert!(said.iter().any(|s| s.contains("row counts of 1 table match")), "{said:?}");
    assert_eq!(checks(&restore(&full, "b.db", &[])), (json!(null), json!("full")));

    // A backup that ran no check gets a quick one now; `--check full` runs the full one (a
    // SQLite backup records no per-table hash to read back: its image's SHA-256 is the proof).
    let report = restore(&unchecked, "c.db", &[]);
    assert_eq!(checks(&report), (json!("quick"), json!(null)));
    assert!(vouched(&report).iter().any(|s| s.contains("recorded no passed integrity check, so the quick one ran")), "{report}");
    let report = restore(&quick, "d.db", &["--check", "full"]);
    assert_eq!(checks(&report), (json!("full"), json!("quick")));
    assert_eq!(report["check"]["tables"][0]["hash_matches"], json!(null), "{report}");
    assert!(vouched(&report).iter().any(|s| s.contains("the full integrity check ran on the restored copy now")), "{report}");

    // A passed drill of this very backup is named; one of another backup is not.
    assert_eq!(logged(&env, &["verify", &quick]).status.code(), Some(0));
    let report = restore(&quick, "e.db", &[]);
    assert_eq!(checks(&report), (json!(null), json!("quick")));
    assert!(
        vouched(&report).iter().any(|s| s.contains("the restore drill of") && s.contains("passed the full integrity check")),
        "{report}"
    );
    assert!(!vouched(&restore(&full, "f.db", &[])).iter().any(|s| s.contains("drill")));

    // The text output lists the same.
    let out = logged(&env, &["restore", &quick, "--to", "g.db"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("what vouches for it:") && shown.contains("  - the restore drill of"), "{shown}");
}
