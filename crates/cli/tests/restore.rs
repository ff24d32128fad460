//! SQLite's own part of restoring: a database that other connections hold open is replaced
//! through SQLite, atomically, and they see the new content. (Consent, safety backups and
//! one-table restores are in the conformance suite, for every engine.)

mod common;

use common::*;

#[test]
fn a_database_held_open_by_a_reader_is_replaced_in_place() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let good = env.backup(&db, &[]);
    sql(&db, "DELETE FROM orders; INSERT INTO users VALUES (4, 'mallory');");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&db).unwrap());

    let reader = rusqlite::Connection::open(&db).unwrap();
    env.ok(&["restore", &good[..8], "--to", db.to_str().unwrap(), "--yes"]);
    assert_eq!(count(&db, "orders"), 3);
    assert_eq!(
        reader.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0)).unwrap(),
        3,
        "the open connection sees the restore"
    );
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&db).unwrap()), inode, "the same file, not a renamed one");
}

#[test]
fn a_stale_wal_without_its_database_is_moved_aside_and_said() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let id = env.backup(&db, &[]);
    let target = env.path("gone.db");
    std::fs::write(env.path("gone.db-wal"), b"frames of a database that is gone").unwrap();
    let out = env.json(&["restore", &id, "--to", target.to_str().unwrap()]);
    assert!(out["notes"].to_string().contains("gone.db-wal.lifeboat-stale"), "{out}");
    assert_eq!(std::fs::read(env.path("gone.db-wal.lifeboat-stale")).unwrap(), b"frames of a database that is gone");
    assert_eq!(dump(&target), dump(&db));
}
