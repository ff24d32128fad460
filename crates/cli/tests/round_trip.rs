//! Backups of hard SQLite cases come back identical: `.dump`, header pragmas, and through
//! `export` a plain SQL file that sqlite3 loads into an equal database.

mod common;

use common::*;

/// Every feature a careless backup loses, in one database.
fn hard_cases(path: &std::path::Path) {
    sql(
        path,
        "PRAGMA page_size=8192;
         PRAGMA journal_mode=wal;
         PRAGMA user_version=42;
         PRAGMA application_id=1718185061;
         CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
         CREATE TABLE strict_t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, r REAL, t TEXT) STRICT;
         CREATE VIRTUAL TABLE docs USING fts5(title, body);
         CREATE TABLE gen(a INTEGER, b INTEGER, s INTEGER GENERATED ALWAYS AS (a+b) STORED, v TEXT GENERATED ALWAYS AS (a || '-' || b) VIRTUAL);
         CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT);
         CREATE TABLE audit(at TEXT, what TEXT);
         CREATE TRIGGER kv_audit AFTER INSERT ON kv BEGIN INSERT INTO audit VALUES ('now', new.k); END;
         CREATE VIEW big_strict AS SELECT * FROM strict_t WHERE n > 1;
         CREATE INDEX strict_n ON strict_t(n);
         INSERT INTO kv VALUES ('nul', x'00010200ff00'), ('empty', x''), ('text', 'plain');
         INSERT INTO kv VALUES ('big', randomblob(3*1024*1024));
         INSERT INTO strict_t VALUES (1, 1, 1.5, 'one'), (2, 2, 0.1, 'two'), (3, 3, -1e300, 'quote''s');
         INSERT INTO docs VALUES ('hello', 'the quick brown fox'), ('bye', 'jumps over the lazy dog');
         INSERT INTO gen(a, b) VALUES (1, 2), (10, 20);
         INSERT INTO seq(note) VALUES ('a'),('b'),('c'),('d');
         DELETE FROM seq WHERE id > 2;",
    );
}

#[test]
fn hard_cases_restore_identically_and_export_loads_in_sqlite3() {
    let env = Env::new();
    let db = env.path("hard.db");
    hard_cases(&db);
    // A writer stays connected with committed frames not yet checkpointed: copying the file
    // alone would miss them.
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch(
            "PRAGMA wal_autocheckpoint=0; INSERT INTO seq(note) VALUES ('in the wal'); INSERT INTO strict_t VALUES (4, 4, 4.0, 'wal');",
        )
        .unwrap();
    assert!(std::fs::metadata(env.path("hard.db-wal")).unwrap().len() > 0, "frames must still be in the WAL");

    let id = env.backup(&db, &["--reason", "hard cases"]);
    let restored = env.path("restored.db");
    env.ok(&["restore", &id[..8], "--to", restored.to_str().unwrap()]);
    assert_eq!(dump(&restored), dump(&db));
    assert_eq!(header(&restored), header(&db));
    assert!(dump(&restored).contains("in the wal"));

    let exported = env.path("export.sql");
    env.ok(&["export", &id[..8], "--format", "sql", "-o", exported.to_str().unwrap()]);
    let loaded = env.path("loaded.db");
    let status = std::process::Command::new("sqlite3").arg(&loaded).stdin(std::fs::File::open(&exported).unwrap()).status().unwrap();
    assert!(status.success());
    assert_eq!(dump(&loaded), dump(&db));
    let h = |p| header(p).into_iter().filter(|l| !l.starts_with("journal_mode") && !l.starts_with("freelist")).collect::<Vec<_>>();
    assert_eq!(h(&loaded), h(&db));
    // AUTOINCREMENT state survives: the next id continues after the deleted ones.
    sql(&loaded, "INSERT INTO seq(note) VALUES ('next')");
    let next: i64 = rusqlite::Connection::open(&loaded).unwrap().query_row("SELECT max(id) FROM seq", [], |r| r.get(0)).unwrap();
    assert_eq!(next, 6);
    drop(writer);
}

#[test]
fn manifest_records_tables_rows_and_hashes() {
    let env = Env::new();
    let db = env.path("shop.db");
    small_db(&db);
    sql(&db, "PRAGMA user_version=3");
    env.backup(&db, &["--reason", "before migration 7", "--tag", "release-1"]);
    let show = env.json(&["show", "latest"]);
    let m = &show["manifest"];
    // Every JSON report gives the backup's real totals (6 rows in small_db), not zeros.
    let bytes = m["streams"][0]["bytes"].as_u64().unwrap();
    for (what, entry) in [
        ("show", show["snapshot"].clone()),
        ("verify", env.json(&["verify", "latest"])["drills"][0]["snapshot"].clone()),
        ("forget", env.json(&["forget", "--keep-last", "1", "--dry-run"])["plan"][0]["decisions"][0]["snapshot"].clone()),
        ("snapshots", env.json(&["snapshots"])["snapshots"][0].clone()),
    ] {
        assert_eq!((entry["rows"].as_u64(), entry["bytes"].as_u64()), (Some(6), Some(bytes)), "{what}: {entry}");
    }
    assert_eq!(m["engine"], "sqlite");
    assert_eq!(m["database"], "shop");
    assert_eq!(m["reason"], "before migration 7");
    assert_eq!(m["class"], "manual");
    assert_eq!(m["properties"]["user_version"], 3);
    assert_eq!(m["properties"]["integrity_check"], "ok", "checked at backup, so a restore of this image need not repeat it");
    let tables = m["tables"].as_array().unwrap();
    let users = tables.iter().find(|t| t["name"] == "users").unwrap();
    assert_eq!(users["rows"], 3);
    // No per-table hash on a SQLite backup's path: the image's SHA-256 proves every row.
    assert_eq!(users["content_hash"], "", "{users}");
    let orders = tables.iter().find(|t| t["name"] == "orders").unwrap();
    assert_eq!(orders["foreign_keys"][0]["references_table"], "users");
    let stream = &m["streams"][0];
    assert_eq!(stream["name"], "database.sqlite");
    assert_eq!(stream["bytes"].as_u64().unwrap(), std::fs::metadata(&db).unwrap().len());
    assert_eq!(m["database_bytes"].as_u64().unwrap(), std::fs::metadata(&db).unwrap().len(), "a SQLite database's size is its pages");

    let list = env.json(&["snapshots", "--db", "shop"])["snapshots"].clone();
    assert_eq!(list[0]["rows"], 6);
    assert_eq!(list[0]["reason"], "before migration 7");
    assert!(list[0]["tags"].as_array().unwrap().iter().any(|t| t == "release-1"));
    // A name typed wrong is not "no backups yet": it is named, with the known ones.
    let err = env.fails(&["snapshots", "--db", "other"], 2);
    assert!(err.contains("no database named `other`") && err.contains("shop"), "{err}");

    // Samples keep each value's kind: numbers, text, null, blobs in hex, with the declared types.
    sql(&db, "CREATE TABLE extras(id INTEGER PRIMARY KEY, note TEXT, data BLOB); INSERT INTO extras VALUES (1, NULL, x'00ff');");
    env.backup(&db, &[]);
    let samples = &env.json(&["show", "latest", "--sample", "2"])["samples"];
    assert_eq!(samples["users"]["rows"], serde_json::json!([[1, "ada"], [2, "grace"]]));
    assert_eq!(samples["users"]["types"], serde_json::json!(["INTEGER", "TEXT"]));
    assert_eq!(samples["orders"]["rows"][0], serde_json::json!([1, 1, 9.5]));
    assert_eq!(samples["extras"]["rows"][0], serde_json::json!([1, null, {"hex": "00ff"}]));
    let md = env.ok(&["show", "latest", "--format", "markdown", "--sample", "2"]);
    assert!(md.contains("| users | 3 |"), "{md}");
    assert!(md.contains("orders(user_id) → users(id)"), "{md}");
    assert!(md.contains("| 1 | ada |"), "{md}");
}

#[test]
fn a_change_that_keeps_size_and_mtime_is_still_backed_up() {
    let env = Env::new();
    let db = env.path("same.db");
    sql(&db, "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('aaaa');");
    env.backup(&db, &[]);
    let before = std::fs::metadata(&db).unwrap();
    sql(&db, "UPDATE t SET v = 'bbbb'");
    let file = std::fs::File::options().write(true).open(&db).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    let after = std::fs::metadata(&db).unwrap();
    assert_eq!((after.len(), after.modified().unwrap()), (before.len(), before.modified().unwrap()));

    env.backup(&db, &[]);
    let restored = env.path("r.db");
    env.ok(&["restore", "latest", "--to", restored.to_str().unwrap()]);
    assert!(dump(&restored).contains("'bbbb'"));
}

#[test]
fn stock_restic_lists_checks_and_dumps_a_backup() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let id = env.backup(&db, &[]);
    assert!(text(&env.restic(&["snapshots"])).contains(&id[..8]));
    env.restic(&["check", "--read-data"]);
    let image = env.restic(&["dump", &id[..8], "/sqlite/app/database.sqlite"]);
    let out = env.path("from-restic.db");
    std::fs::write(&out, image).unwrap();
    assert_eq!(dump(&out), dump(&db));
}

/// `restic restore` writes every stream of a lifeboat snapshot byte for byte (it trusts the
/// sizes recorded in the trees), and `restic ls -l` shows the true sizes.
#[test]
fn stock_restic_restores_every_stream_with_its_true_size() {
    let env = Env::new();
    let db = env.path("app.db");
    hard_cases(&db);
    let id = env.backup(&db, &[]);
    let manifest = env.json(&["show", &id, "--format", "json"]);
    let target = env.path("restored-by-restic");
    env.restic(&["restore", &id[..8], "--target", target.to_str().unwrap()]);
    let listing = text(&env.restic(&["ls", "-l", &id[..8]]));
    let streams = manifest["manifest"]["streams"].as_array().unwrap();
    assert!(!streams.is_empty());
    for stream in streams {
        let name = stream["name"].as_str().unwrap();
        let file = target.join("sqlite/app").join(name);
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(bytes.len() as u64, stream["bytes"].as_u64().unwrap(), "{name}");
        assert_eq!(sha256_hex(&bytes), stream["sha256"].as_str().unwrap(), "{name}");
        let line = listing.lines().find(|l| l.ends_with(&format!("/sqlite/app/{name}"))).unwrap();
        let size = bytes.len().to_string();
        assert!(line.split_whitespace().any(|w| w == size), "restic ls -l shows the true size: {line}");
    }
    let manifest_file = std::fs::read(target.join("sqlite/app/manifest.json")).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&manifest_file).unwrap(), manifest["manifest"]);
    assert_eq!(dump(&target.join("sqlite/app/database.sqlite")), dump(&db));
}

/// Reals exported as SQL come back bit for bit, and the file's settings as they were, when the
/// stock sqlite3 shell (or the library) loads the export.
#[test]
fn exported_reals_and_settings_reload_exactly_in_the_stock_shell_and_the_library() {
    let env = Env::new();
    let db = env.path("reals.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Settings the reloaded file must have too; auto_vacuum and page_size only an empty file takes.
    conn.execute_batch("PRAGMA page_size = 8192; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA user_version = 9; PRAGMA application_id = 77;").unwrap();
    // `v` has REAL affinity; `u` none, so it also keeps a negative zero as it is.
    conn.execute_batch("CREATE TABLE r(id INTEGER PRIMARY KEY, v REAL, u)").unwrap();
    // 30,000 doubles from a fixed sequence of bit patterns over the whole range, and the
    // special ones. Debian's sqlite3 3.40 reads some decimals one ulp off, also its own
    // `.dump` (20 digits): 44 of these came back different that way.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let tx = rusqlite::Connection::unchecked_transaction(&conn).unwrap();
    let specials = [
        -0.0,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        2.225073858507201e-308,
        f64::MAX,
        -f64::MAX,
        9007199254740992.0 * 3.0,
        2f64.powi(60) + 2f64.powi(8),
        0.1,
        1.0 / 3.0,
    ];
    for (id, value) in specials.iter().enumerate() {
        tx.execute("INSERT INTO r VALUES (?1, ?2, ?2)", rusqlite::params![id as i64 - 100, value]).unwrap();
    }
    for id in 0..30_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let value = f64::from_bits(state ^ (state >> 29));
        if value.is_finite() {
            tx.execute("INSERT INTO r VALUES (?1, ?2, ?2)", rusqlite::params![id, value]).unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);
    let id = env.backup(&db, &[]);
    let sql_file = env.path("reals.sql");
    env.ok(&["export", &id, "--format", "sql", "-o", sql_file.to_str().unwrap()]);
    let reloaded = env.path("reloaded.db");
    let out = std::process::Command::new("sqlite3").arg(&reloaded).stdin(std::fs::File::open(&sql_file).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bits = |path: &std::path::Path| -> Vec<(i64, u64, u64)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT id, v, u FROM r ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?.to_bits(), r.get::<_, f64>(2)?.to_bits())))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (before, after) = (bits(&db), bits(&reloaded));
    assert!(before.len() > 25_000, "{}", before.len());
    assert_eq!(before.iter().find(|r| r.0 == -100).map(|r| r.2), Some((-0.0f64).to_bits()), "the source keeps a negative zero");
    let differ: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).take(5).collect();
    assert_eq!((before.len(), differ), (after.len(), vec![]), "reals that came back different");
    assert_eq!(dump(&reloaded), dump(&db));
    // The same export read by the library's own parser, not the shell.
    let by_library = env.path("by_library.db");
    rusqlite::Connection::open(&by_library).unwrap().execute_batch(&std::fs::read_to_string(&sql_file).unwrap()).unwrap();
    assert_eq!(bits(&by_library), before);
    for setting in ["page_size", "auto_vacuum", "journal_mode", "user_version", "application_id", "encoding"] {
        let read = |path: &std::path::Path| {
            rusqlite::Connection::open(path)
                .unwrap()
                .query_row(&format!("PRAGMA {setting}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                .unwrap()
        };
        assert_eq!(read(&reloaded), read(&db), "{setting} after `sqlite3 new.db < export.sql`");
        assert_eq!(read(&by_library), read(&db), "{setting} after loading the export with the library");
    }
}

#[test]
fn forget_named_backups_and_drill_every_database() {
    let env = Env::new();
    let (a, b) = (env.path("a.db"), env.path("b.db"));
    small_db(&a);
    small_db(&b);
    let old = env.backup(&a, &[]);
    let newest = env.backup(&a, &[]);
    env.backup(&b, &[]);

    // Named backups go, with consent; the newest of a database stays even when named.
    let err = env.fails(&["forget", &old[..8]], 1);
    assert!(err.contains("--yes"), "{err}");
    let out = env.json(&["forget", &old[..8], &newest[..8], "--yes"]);
    assert_eq!(out["removed"], 1, "{out}");
    let left: Vec<String> =
        env.json(&["snapshots"])["snapshots"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    assert!(!left.contains(&old) && left.contains(&newest), "{left:?}");
    let err = env.fails(&["forget", "deadbeef", "--yes"], 2);
    assert!(err.contains("no snapshot"), "{err}");
    let err = env.fails(&["forget", &newest[..8], "--keep-last", "1"], 2);
    assert!(err.contains("cannot be used with"), "{err}");

    // One drill per database, each of its newest backup.
    let reports = env.json(&["verify", "--all"])["drills"].clone();
    let drilled: Vec<&str> = reports.as_array().unwrap().iter().map(|r| r["snapshot"]["database"].as_str().unwrap()).collect();
    assert_eq!(drilled, ["a", "b"]);
    assert!(reports.as_array().unwrap().iter().all(|r| r["problems"].as_array().unwrap().is_empty()));
    assert_eq!(env.json(&["verify", "--all", "--db", "b"])["drills"].as_array().unwrap().len(), 1);
}
