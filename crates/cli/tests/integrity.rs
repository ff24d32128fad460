//! SQLite's integrity policy and catalog reuse: a quick check at backup, the full check in every
//! drill and wherever a restore cannot trust the backup's, and a catalog read anew whenever a
//! single page changed.

mod common;

use std::path::Path;

use common::*;

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

    // A restore cannot trust a quick check, nor a drill that failed: it runs the full check
    // and refuses the copy.
    let out = logged(&env, &["restore", &id, "--to", env.path("back.db").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing from index i"), "{}", text(&out.stderr));
    assert!(!env.path("back.db").exists());

    // Asked for, the full check runs at backup: a warning, and the findings in the manifest.
    let out = env.run(&["backup", db.to_str().unwrap(), "--integrity", "full", "--json"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("warning: the database failed its integrity check"), "{}", text(&out.stderr));
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
        assert_ne!(m3["tables"][0]["content_hash"], m2["tables"][0]["content_hash"]);
        assert!(env.ok(&["verify", &changed]).contains("verify: OK"));

        // A quick-checked backup restores with the full check run now, and says so.
        let out = env.json(&["restore", &changed, "--to", env.path("r.db").to_str().unwrap()]);
        assert!(out["notes"].to_string().contains("checked in full now"), "{out}");
        assert!(dump(&env.path("r.db")).contains("'bbbb'"));
    }
}

#[test]
fn a_passed_drill_stands_for_the_full_check_of_that_very_backup_only() {
    let env = Env::new();
    let db = env.path("app.db");
    indexed_db(&db);
    let before = dump(&db);
    let first = env.backup(&db, &[]);
    sql(&db, "INSERT INTO t VALUES (9999, 'new')");
    let second = env.backup(&db, &[]);
    let restore = |id: &str, to: &str| -> serde_json::Value {
        let out = logged(&env, &["restore", id, "--to", to, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let checked =
        |report: &serde_json::Value| (report["check"]["integrity_checked"].clone(), report["check"]["integrity_proven_by_drill"].clone());

    // Not drilled yet: the restore of a quick-checked backup runs the full check itself.
    assert_eq!(checked(&restore(&first, "a.db")), (true.into(), false.into()));

    // Drilled: the drill's full check stands for the restore's, and the restore says whose.
    assert_eq!(logged(&env, &["verify", &first]).status.code(), Some(0));
    let report = restore(&first, "b.db");
    assert_eq!(checked(&report), (false.into(), true.into()), "{report}");
    assert!(report["notes"].to_string().contains("the restore drill of"), "{report}");
    assert_eq!(dump(&env.path("b.db")), before);
    assert_eq!(dump(&env.path("a.db")), before);

    // Another backup of the same database was not drilled, and a restore without the job log
    // knows of no drill: both check in full.
    assert_eq!(checked(&restore(&second, "c.db")), (true.into(), false.into()));
    let unlogged = env.json(&["restore", &first, "--to", "d.db"]);
    assert_eq!(checked(&unlogged), (true.into(), false.into()));
}
