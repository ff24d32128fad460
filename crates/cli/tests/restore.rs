//! Restores never make things worse: consent, a safety backup first, atomic replacement, and
//! one-table restores in one transaction.

mod common;

use common::*;

#[test]
fn replacing_needs_consent_and_takes_a_safety_backup_first() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    let good = env.backup(&db, &[]);
    sql(&db, "DELETE FROM orders; INSERT INTO users VALUES (4, 'mallory');");
    let damaged = dump(&db);

    // No terminal and no --yes: refused, nothing changed, no snapshot added.
    let err = env.fails(&["restore", &good[..8], "--to", db.to_str().unwrap()], 1);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(dump(&db), damaged);
    assert_eq!(env.snapshot_count(), 1);

    // A reader holds the database open while it is replaced.
    let reader = rusqlite::Connection::open(&db).unwrap();
    let out = env.json(&["restore", &good[..8], "--to", db.to_str().unwrap(), "--yes"]);
    let safety = out["safety_backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(count(&db, "orders"), 3);
    assert_eq!(reader.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0)).unwrap(), 3);
    let list = env.json(&["snapshots"]);
    let s = list.as_array().unwrap().iter().find(|s| s["id"] == safety.as_str()).unwrap();
    assert_eq!(s["class"], "safety");

    // The safety backup holds exactly what was replaced.
    let back = env.path("before.db");
    env.ok(&["restore", &safety[..8], "--to", back.to_str().unwrap()]);
    assert_eq!(dump(&back), damaged);
}

#[test]
fn one_table_is_restored_in_one_transaction() {
    let env = Env::new();
    let db = env.path("app.db");
    small_db(&db);
    env.backup(&db, &[]);
    sql(&db, "DELETE FROM orders WHERE id = 2; UPDATE users SET name = 'changed' WHERE id = 3;");

    env.ok(&["restore", "latest", "--to", db.to_str().unwrap(), "--table", "orders", "--yes"]);
    assert_eq!(count(&db, "orders"), 3);
    // Other tables are left as they are.
    assert!(dump(&db).contains("'changed'"));

    let err = env.fails(&["restore", "latest", "--to", db.to_str().unwrap(), "--table", "nope", "--yes"], 2);
    assert!(err.contains("no table `nope`") && err.contains("users"), "{err}");
}

#[test]
fn a_table_restore_that_would_break_foreign_keys_is_rolled_back() {
    let env = Env::new();
    let db = env.path("app.db");
    sql(&db, "PRAGMA foreign_keys=ON; CREATE TABLE users(id INTEGER PRIMARY KEY); CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id));
              INSERT INTO users VALUES (1);");
    env.backup(&db, &[]);
    sql(&db, "PRAGMA foreign_keys=ON; INSERT INTO users VALUES (2); INSERT INTO orders VALUES (1, 2);");
    let before = dump(&db);
    let err = env.fails(&["restore", "latest", "--to", db.to_str().unwrap(), "--table", "users", "--yes"], 1);
    assert!(err.contains("foreign keys"), "{err}");
    assert_eq!(dump(&db), before);
}
