//! PostgreSQL round trips and faults against real throwaway clusters.

mod common;

use common::{pg::Cluster, *};

/// Everything pg_dump would keep, in one database.
const CORPUS: &str = r#"
CREATE EXTENSION citext;
CREATE ROLE lo_owner;
CREATE ROLE lo_reader;
CREATE SCHEMA "Ünïcode Schema";
COMMENT ON SCHEMA "Ünïcode Schema" IS 'a schema with a non-ASCII name';
CREATE TABLE "Ünïcode Schema"."Tab/le ""q""" (id int PRIMARY KEY, "naïve" text, email citext);
INSERT INTO "Ünïcode Schema"."Tab/le ""q""" VALUES (1, 'crème brûlée', 'A@B.C'), (2, E'tab\tnew\nline \\ back', NULL);
COMMENT ON TABLE "Ünïcode Schema"."Tab/le ""q""" IS 'quoted identifiers';

CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, born date, score double precision, tags text[], prefs jsonb, avatar bytea);
INSERT INTO users (name, born, score, tags, prefs, avatar)
  SELECT 'user ' || g, date '2000-01-01' + g, g / 3.0, ARRAY['a', 'b' || g], jsonb_build_object('n', g), decode('00ff00' || lpad(to_hex(g), 4, '0'), 'hex')
  FROM generate_series(1, 500) g;
DELETE FROM users WHERE id > 490;
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id int NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  total numeric(12, 2) NOT NULL,
  at timestamptz NOT NULL DEFAULT '2026-01-01 12:00+02',
  doubled numeric GENERATED ALWAYS AS (total * 2) STORED
);
INSERT INTO orders (user_id, total) SELECT 1 + g % 490, g * 1.25 FROM generate_series(1, 3000) g;
CREATE INDEX orders_user ON orders (user_id);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE MATERIALIZED VIEW user_totals AS SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id;
CREATE MATERIALIZED VIEW never_filled AS SELECT 1 AS one WITH NO DATA;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := NEW.name; RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();

CREATE TABLE events (id int, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_other PARTITION OF events DEFAULT;
INSERT INTO events SELECT g, date '2025-06-01' + g, 'event ' || g FROM generate_series(1, 700) g;

CREATE TABLE animals (id int, name text);
CREATE TABLE dogs (good boolean) INHERITS (animals);
INSERT INTO animals VALUES (1, 'cat');
INSERT INTO dogs VALUES (2, 'rex', true), (3, 'fido', true);

CREATE TABLE no_columns ();
CREATE TABLE never_written (id int PRIMARY KEY, note text);
INSERT INTO no_columns DEFAULT VALUES;
INSERT INTO no_columns DEFAULT VALUES;
CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);
INSERT INTO cache VALUES ('a', '1'), ('b', '2');

CREATE TABLE secrets (id int PRIMARY KEY, owner_name text, secret text);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_mine ON secrets USING (owner_name = current_user);
INSERT INTO secrets VALUES (1, 'alice', 's1'), (2, 'bob', 's2');

CREATE SEQUENCE counter START 100 INCREMENT 7;
SELECT nextval('counter'), nextval('counter');
CREATE SEQUENCE untouched;

SELECT lo_from_bytea(424242, decode(repeat('00ff', 600000), 'hex'));
ALTER LARGE OBJECT 424242 OWNER TO lo_owner;
GRANT SELECT ON LARGE OBJECT 424242 TO lo_reader;
SELECT lo_from_bytea(424243, 'small'::bytea);
"#;

fn restore_to(env: &Env, snapshot: &str, url: &str, extra: &[&str]) -> String {
    let mut args = vec!["restore", snapshot, "--to", url];
    args.extend_from_slice(extra);
    env.ok(&args)
}

#[test]
fn round_trip_gives_back_what_pg_dump_keeps() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.script("shop", CORPUS);
    let before = pg.fingerprint("shop");

    let id = env.backup_url(&pg.url("shop"), &["--reason", "corpus"]);
    let manifest = env.json(&["show", &id, "--format", "json"]);
    let tables = manifest["manifest"]["tables"].as_array().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"public.events_2025") && !names.contains(&"public.events"),
        "partitions are copied, parents are not: {names:?}"
    );
    // The catalog says what the schema holds: each table's DDL and foreign keys, and the
    // indexes, views, triggers and functions.
    let orders = tables.iter().find(|t| t["name"] == "public.orders").unwrap();
    assert!(orders["sql"].as_str().unwrap().starts_with("CREATE TABLE orders ("), "{}", orders["sql"]);
    assert_eq!(orders["foreign_keys"][0]["references_table"], "public.users", "a reference names its schema");
    assert_eq!(orders["foreign_keys"][0]["columns"], serde_json::json!(["user_id"]));
    assert_eq!(orders["foreign_keys"][0]["on_delete"], "CASCADE");
    let objects: Vec<(String, String)> = manifest["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap().to_string(), o["name"].as_str().unwrap().to_string()))
        .collect();
    for (kind, name) in [
        ("index", "public.orders_user"),
        ("view", "big_orders"),
        ("materialized view", "user_totals"),
        ("trigger", "users_touch"),
        ("function", "touch()"),
    ] {
        assert!(objects.contains(&(kind.to_string(), name.to_string())), "{kind} {name} missing from {objects:?}");
    }
    // Sample rows are read through the checked, decoded stream: COPY text values, not zstd.
    let samples = env.json(&["show", &id, "--sample", "2"]);
    let users_sample = &samples["samples"]["public.users"];
    assert_eq!(users_sample["columns"][0], "id");
    assert_eq!(users_sample["rows"].as_array().unwrap().len(), 2);
    assert_eq!(users_sample["types"][0], "integer");
    assert!(users_sample["rows"][0][0].is_i64(), "an integer is a JSON number: {users_sample}");
    assert!(users_sample["rows"][0][1].is_string(), "{users_sample}");
    let users = tables.iter().find(|t| t["name"] == "public.users").unwrap();
    assert_eq!(users["rows"], 490);
    assert_eq!((users["columns"][0]["name"].as_str(), users["columns"][0]["primary_key"].as_u64()), (Some("id"), Some(1)), "keys: {users}");
    assert_eq!(users["columns"][1]["primary_key"], 0);
    assert!(
        manifest["manifest"]["properties"]["extensions"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().starts_with("citext")),
        "{manifest}"
    );
    // Sizes say what they measure: the database's own size as the server counts it, each
    // table's with its indexes, and the text output labels them.
    let database_bytes: u64 = pg.sql("shop", "SELECT pg_database_size('shop')").trim().parse().unwrap();
    let recorded = manifest["snapshot"]["database_bytes"].as_u64().unwrap();
    assert!(recorded.abs_diff(database_bytes) < database_bytes / 10, "recorded {recorded}, the server says {database_bytes}");
    let users_bytes: u64 = pg.sql("shop", "SELECT pg_total_relation_size('public.users')").trim().parse().unwrap();
    assert_eq!(users["bytes"].as_u64(), Some(users_bytes));
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("size: database ") && shown.contains("; backup streams "), "{shown}");
    assert!(shown.contains("extensions: citext "), "extensions as a list, not JSON: {shown}");
    let report = env.ok(&["show", &id, "--format", "markdown", "--sample", "1"]);
    for part in [
        "## Tables",
        "| public.users | 490 |",
        "## Relationships",
        "- public.orders(user_id) → public.users(id)",
        "- view big_orders",
        "```sql",
        "## First rows of public.users",
    ] {
        assert!(report.contains(part), "the Markdown report lacks `{part}`:\n{report}");
    }

    // A SQLite file called shop.db is another database: it cannot join the group `shop`.
    let sqlite_shop = env.path("shop.db");
    small_db(&sqlite_shop);
    let err = env.fails(&["backup", sqlite_shop.to_str().unwrap()], 2);
    assert!(err.contains("already holds backups of another database (postgres:"), "{err}");
    env.backup(&sqlite_shop, &["--name", "shop-sqlite"]);

    restore_to(&env, &id, &pg.url("copy"), &[]);
    assert_eq!(pg.fingerprint("copy"), before);
    // Each row exactly once: the parents of partitions and of inheritance see their children.
    assert_eq!(pg.sql("copy", "SELECT count(*) FROM events").trim(), "700");
    assert_eq!(pg.sql("copy", "SELECT count(*) FROM animals").trim(), "3");
    // The identity column continues after the restored rows, generated columns are computed.
    assert_eq!(pg.sql("copy", "INSERT INTO orders (user_id, total) VALUES (1, 1) RETURNING id, doubled").trim(), "3001|2.00");

    let report = env.json(&["verify", &id])["drills"][0].clone();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    assert!(!pg.databases().iter().any(|d| d.starts_with("lifeboat_verify")), "the drill drops its scratch database");

    // Plain SQL that psql loads into an empty database, no lifeboat involved.
    let sql_file = env.path("shop.sql");
    env.ok(&["export", &id, "--format", "sql", "-o", sql_file.to_str().unwrap()]);
    pg.sql("postgres", "CREATE DATABASE exported TEMPLATE template0");
    let out = pg.tool("psql", "exported").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&sql_file).output().unwrap();
    assert!(out.status.success(), "psql could not load the export: {}", text(&out.stderr));
    assert_eq!(pg.fingerprint("exported"), before);

    // The README's recipe without lifeboat (restic, zstd, jq, psql) gives back everything:
    // schema, rows, sequence values and large objects.
    // `latest` in it means shop's latest, also when another database was backed up since.
    let other = env.path("other.db");
    common::small_db(&other);
    env.backup(&other, &[]);
    pg.restore_with_restic_recipe(&env, "latest", "shop", "by_restic");
    assert_eq!(pg.fingerprint("by_restic"), before);

    // Stock restic and zstd give back a table's COPY text, no lifeboat involved.
    let stored = env.restic(&["dump", &id[..8], "/postgres/shop/data/public.users/00000.zst"]);
    let stored_file = env.path("users.zst");
    std::fs::write(&stored_file, stored).unwrap();
    let decoded =
        std::process::Command::new("zstd").args(["-d", "-c", "-q"]).arg(&stored_file).output().expect("zstd is installed by scripts/setup");
    assert!(decoded.status.success(), "zstd -d: {}", text(&decoded.stderr));
    let copy_text = decoded.stdout;
    let source = pg.tool("psql", "shop").args(["-X", "-c", "COPY users TO STDOUT"]).output().unwrap();
    assert_eq!(text(&copy_text), text(&source.stdout));

    // A stopped cluster leaves nothing behind, even one that is never dropped.
    let folder = pg.folder().to_path_buf();
    pg.stop();
    assert!(!folder.exists(), "{} was left behind", folder.display());
}

#[test]
fn a_big_table_cut_into_parts_comes_back_whole_whichever_sessions_load_it() {
    let env = Env::new();
    let pg = Cluster::start();
    pg.sql("postgres", "CREATE DATABASE big");
    // About 170 MiB of heap: two parts of 128 MiB at most. With three sessions the third
    // joins a part still loading, and each batch of its rows goes to one session or another.
    pg.sql(
        "big",
        "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL);
         INSERT INTO big SELECT g, repeat(md5(g::text), 4) || E'\\n\t' || g FROM generate_series(1, 900000) g;
         CREATE TABLE small (id int PRIMARY KEY); INSERT INTO small SELECT generate_series(1, 10);",
    );
    let before = pg.fingerprint("big");
    let id = env.backup_url(&pg.url("big"), &[]);
    let streams = env.json(&["show", &id])["manifest"]["tables"].to_string();
    assert!(streams.contains("public.big/00001"), "the table was cut into parts: {streams}");
    for jobs in ["1", "3"] {
        let name = format!("big_{jobs}");
        env.ok(&["restore", &id, "--to", &pg.url(&name), "--jobs", jobs]);
        assert_eq!(pg.fingerprint(&name), before, "--jobs {jobs}");
        assert_eq!(pg.sql(&name, "SELECT count(*), count(DISTINCT id) FROM big").trim(), "900000|900000");
    }
}

#[test]
fn a_backup_taken_while_pgbench_writes_is_one_point_in_time() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE bench");
    let init = pg.tool("pgbench", "bench").args(["-i", "-s", "4", "-q"]).output().unwrap();
    assert!(init.status.success(), "{}", text(&init.stderr));
    let mut load = pg
        .tool("pgbench", "bench")
        .args(["-c", "4", "-T", "30", "-n"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let id = env.backup_url(&pg.url("bench"), &[]);
    let _ = load.kill();
    let _ = load.wait();
    restore_to(&env, &id, &pg.url("restored"), &[]);
    let sums = pg.sql(
        "restored",
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || \
                (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history) || ' ' || \
                (SELECT count(*) FROM pgbench_history)",
    );
    let parts: Vec<&str> = sums.split_whitespace().collect();
    assert!(parts[4].parse::<u64>().unwrap() > 0, "pgbench had written history before the backup: {sums}");
    assert!(parts[..4].iter().all(|p| *p == parts[0]), "balances and history disagree, so the backup mixed points in time: {sums}");
}

#[test]
fn restoring_over_a_live_database_swaps_a_checked_copy_in() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE app");
    pg.script("app", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;");
    let id = env.backup_url(&pg.url("app"), &[]);
    pg.sql("app", "DELETE FROM t WHERE id > 10");

    let err = env.fails(&["restore", &id, "--to", &pg.url("app")], 1);
    assert!(err.contains("would be replaced") && err.contains("--yes"), "{err}");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM t").trim(), "10", "refused without consent: nothing changed");

    // A session on the live database blocks the swap: the error names it, nothing changes.
    let mut session = pg
        .tool("psql", "app")
        .args(["-X", "-q", "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let err = env.fails(&["restore", &id, "--to", &pg.url("app"), "--yes"], 1);
    assert!(err.contains("cannot be swapped") && err.contains("pid"), "{err}");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM t").trim(), "10");

    let out = restore_to(&env, &id, &pg.url("app"), &["--yes", "--terminate-connections"]);
    let _ = session.wait();
    assert!(out.contains("safety backup"), "{out}");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM t").trim(), "1000");
    let databases = pg.databases();
    let old = databases.iter().find(|d| d.starts_with("app_lifeboat_old_")).expect("the old database is kept");
    assert_eq!(pg.sql(old, "SELECT count(*) FROM t").trim(), "10");
    assert!(!databases.iter().any(|d| d == "app_lifeboat_new"), "{databases:?}");
    let safety = env.json(&["snapshots"])["snapshots"].clone();
    let classes: Vec<&str> = safety.as_array().unwrap().iter().map(|s| s["class"].as_str().unwrap()).collect();
    assert!(classes.contains(&"safety"), "{classes:?}");
}

#[test]
fn postgres_bad_input_is_a_clear_error_and_changes_nothing() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE app");
    pg.sql("postgres", "CREATE ROLE app_user LOGIN PASSWORD 'right'");
    pg.script(
        "app",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO app_user;
         CREATE TABLE hidden (id int); INSERT INTO hidden VALUES (1);
         CREATE TABLE guarded (id int, who text); INSERT INTO guarded VALUES (1, 'x');
         ALTER TABLE guarded ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON guarded USING (who = current_user);
         GRANT SELECT ON hidden, guarded TO app_user;",
    );
    let tcp = |user: &str, password: &str, db: &str| format!("postgresql://{user}:{password}@127.0.0.1:{}/{db}", pg.port);

    let err = env.fails(&["backup", &tcp("app_user", "wrong", "app")], 1);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(!err.contains("wrong"), "the password is never printed: {err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = env.fails(&["backup", &format!("postgresql://postgres@127.0.0.1:{closed}/app")], 1);
    assert!(err.contains("cannot reach"), "{err}");

    let err = env.fails(&["backup", &pg.url("nope")], 1);
    assert!(err.contains("does not exist"), "{err}");

    // RLS would hide rows from app_user: a clear error, not a partial backup.
    let err = env.fails(&["backup", &tcp("app_user", "right", "app")], 1);
    assert!(err.contains("row-level security"), "{err}");
    pg.sql("app", "ALTER TABLE guarded DISABLE ROW LEVEL SECURITY; REVOKE SELECT ON hidden FROM app_user");
    let err = env.fails(&["backup", &tcp("app_user", "right", "app")], 1);
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(env.snapshot_count(), 0);

    // A non-superuser that may read everything backs up fine.
    pg.sql("app", "GRANT SELECT ON hidden TO app_user");
    let id = env.backup_url(&tcp("app_user", "right", "app"), &[]);
    restore_to(&env, &id, &pg.url("copy"), &[]);
    assert_eq!(pg.sql("copy", "SELECT count(*) FROM hidden").trim(), "1");
}

#[test]
fn the_server_going_away_mid_backup_leaves_no_snapshot() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE big");
    pg.script("big", "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS token FROM generate_series(1, 1500000) g;");
    let url = pg.url("big");
    let backup = env.cmd(&["backup", &url]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut terminated = String::new();
    for _ in 0..200 {
        terminated = pg.sql(
            "postgres",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'lifeboat' AND query LIKE 'COPY%'",
        );
        if terminated.trim() != "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_ne!(terminated.trim(), "0", "the backup's COPY session was seen and terminated");
    let out = backup.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("went away") || text(&out.stderr).contains("terminat"), "{}", text(&out.stderr));
    assert_eq!(env.snapshot_count(), 0);
    env.backup_url(&url, &[]);
    env.ok(&["check"]);
}

#[test]
fn one_table_is_restored_in_one_transaction_or_beside_the_original() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE app");
    pg.script(
        "app",
        "CREATE TABLE users (id int PRIMARY KEY, name text);
         CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users(id), total numeric);
         CREATE TABLE notes (id int PRIMARY KEY, user_id int REFERENCES users(id) ON DELETE CASCADE);
         INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 100) g;
         INSERT INTO orders SELECT g, 1 + g % 100, g FROM generate_series(1, 300) g;",
    );
    let id = env.backup_url(&pg.url("app"), &[]);
    let orders_before = pg.sql("app", "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o");
    pg.sql("app", "DELETE FROM orders WHERE id > 100");
    pg.sql("app", "INSERT INTO users VALUES (1000, 'added later')");

    let err = env.fails(&["restore", &id, "--to", &pg.url("app"), "--table", "public.nope", "--yes"], 2);
    assert!(err.contains("no table") && err.contains("public.orders"), "{err}");
    let err = env.fails(&["restore", &id, "--to", &pg.url("app"), "--table", "orders"], 1);
    assert!(err.contains("--yes"), "{err}");

    let out = env.ok(&["restore", &id, "--to", &pg.url("app"), "--table", "public.orders", "--yes"]);
    assert!(out.contains("safety backup"), "{out}");
    assert_eq!(pg.sql("app", "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"), orders_before);
    assert_eq!(pg.sql("app", "SELECT count(*) FROM users").trim(), "101", "other tables are untouched");

    // users is referenced by orders (NO ACTION) and by notes (ON DELETE CASCADE), and has
    // triggers: restoring it changes users and nothing else, and no trigger fires.
    pg.script(
        "app",
        "INSERT INTO notes VALUES (1, 5), (2, 6);
         CREATE TABLE audit (what text);
         CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
         CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES ('deleted ' || OLD.id); RETURN OLD; END $$;
         CREATE TRIGGER users_shout BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION shout();
         CREATE TRIGGER users_log AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION log_delete();
         DELETE FROM users WHERE id = 1000; UPDATE users SET name = 'changed' WHERE id = 7; DELETE FROM audit;",
    );
    let notes_before = pg.sql("app", "SELECT string_agg(id || ':' || user_id, ',' ORDER BY id) FROM notes");
    env.ok(&["restore", &id, "--to", &pg.url("app"), "--table", "users", "--yes"]);
    assert_eq!(
        pg.sql("app", "SELECT name FROM users WHERE id = 7").trim(),
        "user 7",
        "restored, and the BEFORE INSERT trigger did not fire"
    );
    assert_eq!(pg.sql("app", "SELECT count(*) FROM users").trim(), "100");
    assert_eq!(pg.sql("app", "SELECT string_agg(id || ':' || user_id, ',' ORDER BY id) FROM notes"), notes_before, "no cascade");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM audit").trim(), "0", "no AFTER DELETE trigger fired");
    // Beside the original, nothing else changes.
    pg.sql("app", "INSERT INTO users VALUES (1000, 'added later')");
    env.ok(&["restore", &id, "--to", &pg.url("app"), "--table", "users", "--as", "users_then"]);
    assert_eq!(pg.sql("app", "SELECT count(*) FROM users_then").trim(), "100");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM users").trim(), "101");

    // A column whose type changed since the backup would store other values (9.5 as 9.50): the
    // loaded rows do not hash to the backup's, so nothing is replaced.
    pg.sql("app", "ALTER TABLE orders ALTER total TYPE numeric(12,2)");
    let before = pg.sql("app", "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o");
    let err = env.fails(&["restore", &id, "--to", &pg.url("app"), "--table", "orders", "--yes"], 1);
    assert!(err.contains("do not match the backup"), "{err}");
    assert_eq!(pg.sql("app", "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"), before);
    assert!(
        !pg.sql("app", "SELECT count(*) FROM pg_class WHERE relname LIKE '%lifeboat_new'").trim().starts_with('1'),
        "the loaded copy is dropped"
    );

    // A reference the restore would break rolls the whole table restore back, naming the row.
    pg.sql("app", "INSERT INTO orders VALUES (5000, 1000, 1)");
    let err = env.fails(&["restore", &id, "--to", &pg.url("app"), "--table", "users", "--yes"], 1);
    assert!(err.contains("foreign key") && err.contains("orders (5000,1000,1.00)"), "{err}");
    assert_eq!(pg.sql("app", "SELECT count(*) FROM users").trim(), "101", "rolled back");
}

#[test]
fn subsets_globals_and_old_tools() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE ROLE app_owner LOGIN");
    pg.sql("postgres", "CREATE DATABASE app OWNER app_owner");
    pg.script(
        "app",
        "SET ROLE app_owner;
         CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (id serial PRIMARY KEY, total numeric);
         CREATE TABLE users (id serial PRIMARY KEY, name text);
         CREATE TABLE audit (id bigserial PRIMARY KEY, what text);
         INSERT INTO billing.invoices (total) SELECT g FROM generate_series(1, 50) g;
         INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 20) g;
         INSERT INTO audit (what) SELECT 'a' || g FROM generate_series(1, 30) g;",
    );

    // A named subset before a migration: two tables, tagged.
    let id = env.backup_url(&pg.url("app"), &["--tables", "users,billing.invoices", "--class", "pre-deployment", "--globals"]);
    let shown = env.json(&["show", &id, "--format", "json"]);
    let names: Vec<&str> = shown["manifest"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["billing.invoices", "public.users"]);
    let id_schema = env.backup_url(&pg.url("app"), &["--schema", "public", "--exclude-table", "audit"]);
    let shown = env.json(&["show", &id_schema, "--format", "json"]);
    let names: Vec<&str> = shown["manifest"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["public.users"]);
    let err = env.fails(&["backup", &pg.url("app"), "--tables", "nope"], 2);
    assert!(err.contains("no table matches"), "{err}");

    // Roles come back in a fresh cluster with --globals; the tables keep their owner.
    let fresh = Cluster::start();
    let err = env.fails(&["restore", &id_schema, "--to", &fresh.url("app"), "--globals"], 2);
    assert!(err.contains("without --globals"), "{err}");
    env.ok(&["restore", &id, "--to", &fresh.url("app"), "--globals"]);
    assert_eq!(fresh.sql("app", "SELECT tableowner FROM pg_tables WHERE tablename = 'users'").trim(), "app_owner");
    assert_eq!(fresh.sql("app", "SELECT count(*) FROM billing.invoices").trim(), "50");
    assert_eq!(fresh.sql("app", "SELECT nextval('users_id_seq')").trim(), "21", "owned sequences come with their tables");
    assert_eq!(fresh.sql("app", "SELECT to_regclass('public.audit') IS NULL").trim(), "t");

    // pg_dump older than the server: stop before anything runs and say what to install.
    let old = env.path("old-bin");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("pg_dump"), "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    std::fs::set_permissions(old.join("pg_dump"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::copy(pg.bin("psql"), old.join("psql")).unwrap();
    let out = env.cmd(&["backup", &pg.url("app")]).env("LIFEBOAT_PG_BIN", &old).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("older than the server") && text(&out.stderr).contains("apt-get install postgresql-client-"),
        "{}",
        text(&out.stderr)
    );
    let out = env.cmd(&["backup", &pg.url("app")]).env("LIFEBOAT_PG_BIN", env.path("nowhere")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pg_dump was not found"), "{}", text(&out.stderr));
}

#[test]
fn tls_modes_behave_as_in_psql() {
    let pg = Cluster::start_tls();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE app");
    pg.sql("postgres", "CREATE ROLE app_user LOGIN PASSWORD 'right'");
    pg.script("app", "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); GRANT SELECT ON t TO app_user;");
    let url = |host: &str, params: &str| format!("postgresql://app_user:right@{host}:{}/app?{params}", pg.port);
    let root = pg.tls_root();
    let root = root.to_str().unwrap();

    env.backup_url(&url("127.0.0.1", "sslmode=require"), &[]);
    env.backup_url(&url("localhost", &format!("sslmode=verify-full&sslrootcert={root}")), &[]);
    assert_eq!(env.snapshot_count(), 2);
    let source = env.json(&["show", "latest", "--format", "json"])["manifest"]["source"].as_str().unwrap().to_string();
    assert!(
        source.contains("sslmode=verify-full") && source.contains("app_user@") && !source.contains("right"),
        "kept without its password: {source}"
    );

    // The certificate names localhost, not 127.0.0.1: verify-full refuses.
    let err = env.fails(&["backup", &url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={root}"))], 1);
    assert!(err.contains("TLS connection") && err.contains("sslrootcert"), "{err}");
    // A CA that did not sign the server's certificate: refused too.
    let other = env.path("other.crt");
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other", "-keyout"])
        .arg(env.path("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = env.fails(&["backup", &url("localhost", &format!("sslmode=verify-full&sslrootcert={}", other.display()))], 1);
    assert!(err.contains("TLS connection"), "{err}");
    assert_eq!(env.snapshot_count(), 2);
}

/// Samples pg_stat_activity from inside the server every 5 ms while `during` runs and returns
/// the most `COPY` statements that were running at once (other than the sampler).
fn most_copies_at_once(pg: &Cluster, during: impl FnOnce()) -> i64 {
    pg.sql(
        "postgres",
        "CREATE OR REPLACE FUNCTION sample_copies(seconds float) RETURNS int LANGUAGE plpgsql AS $$
         DECLARE most int := 0; now_running int; until timestamptz := clock_timestamp() + seconds * interval '1 second';
         BEGIN
           WHILE clock_timestamp() < until AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'stop_sampling') LOOP
             PERFORM pg_stat_clear_snapshot();
             SELECT count(*) INTO now_running FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY %' AND pid <> pg_backend_pid();
             most := greatest(most, now_running);
             PERFORM pg_sleep(0.005);
           END LOOP;
           RETURN most;
         END $$",
    );
    let sampler = pg
        .tool("psql", "postgres")
        .args(["-X", "-At", "-c", "SELECT sample_copies(120)"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    during();
    let _stop = pg.tool("psql", "postgres").env("PGAPPNAME", "stop_sampling").args(["-X", "-c", "SELECT pg_sleep(0.5)"]).output().unwrap();
    let out = sampler.wait_with_output().unwrap();
    text(&out.stdout).trim().parse().unwrap()
}

#[test]
fn jobs_bound_the_sessions_of_backups_and_restores() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE app");
    for t in 0..6 {
        pg.sql("app", &format!("CREATE TABLE t{t} AS SELECT g AS id, md5(g::text) AS token FROM generate_series(1, 200000) g"));
    }
    let mut id = String::new();
    let backup = most_copies_at_once(&pg, || id = env.backup_url(&pg.url("app"), &["--jobs", "1"]));
    assert_eq!(backup, 1, "a backup with --jobs 1 ran {backup} COPY sessions at once");
    let restore = most_copies_at_once(&pg, || {
        env.ok(&["restore", &id, "--to", &pg.url("copy"), "--jobs", "1"]);
    });
    assert_eq!(restore, 1, "a restore with --jobs 1 ran {restore} COPY sessions at once");
    let restore = most_copies_at_once(&pg, || {
        env.ok(&["restore", &id, "--to", &pg.url("copy3"), "--jobs", "3"]);
    });
    assert!(restore >= 2, "a restore with --jobs 3 never ran two COPY sessions at once");
    assert_eq!(pg.sql("copy", "SELECT sum(id) FROM t5").trim(), "20000100000");

    let err = env.fails(&["backup", env.path("x.db").to_str().unwrap(), "--jobs", "2"], 2);
    assert!(err.contains("cannot be used with a sqlite database"), "{err}");
    let err = env.fails(&["backup", &pg.url("app"), "--jobs", "0"], 2);
    assert!(err.contains("--jobs"), "{err}");
}

#[test]
fn one_changed_row_costs_its_frames_not_its_table() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE big");
    // About 60 MB of COPY text: a dozen frames, each aligned to the repository's chunks.
    pg.sql("big", "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b FROM generate_series(1, 800000) g");
    let added = |env: &Env| env.json(&["backup", &pg.url("big")])["snapshot"]["added_bytes"].as_u64().unwrap();
    let first = added(&env);
    pg.sql("big", "UPDATE t SET a = 'changed' WHERE id = 400000");
    let second = added(&env);
    assert!(first > 20_000_000, "the first backup added only {first} bytes");
    assert!(second * 5 < first, "one changed row added {second} bytes after a first backup of {first}");
}

#[test]
fn a_role_that_does_not_exist_is_named_as_such() {
    let pg = Cluster::start();
    let env = Env::new();
    let err = env.fails(&["backup", &pg.url_as("postgres", "nobody_here")], 1);
    assert!(err.contains("no such role") && !err.contains("went away"), "{err}");
    assert!(err.contains("role \"nobody_here\" does not exist"), "the server's own words are kept: {err}");
}

/// Regression: commits made while a one-table restore ran were in neither its safety backup
/// nor the result. The swap now locks the table against writers before the safety backup is
/// taken, so every commit is in one of the two.
#[test]
fn a_table_restore_over_a_table_being_written_loses_no_commit() {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    };
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql("shop", "CREATE TABLE log(id int PRIMARY KEY, note text); INSERT INTO log VALUES (1, 'in the backup');");
    pg.sql("shop", "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g;");
    let id = env.backup_url(&pg.url("shop"), &[]);
    let (stop, committed) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let writer = {
        let (stop, committed) = (stop.clone(), committed.clone());
        let psql = pg.tool("psql", "shop");
        let (program, envs): (std::path::PathBuf, Vec<(std::ffi::OsString, std::ffi::OsString)>) =
            (psql.get_program().into(), psql.get_envs().filter_map(|(k, v)| Some((k.to_os_string(), v?.to_os_string()))).collect());
        std::thread::spawn(move || {
            let mut next = 1_000_000;
            while !stop.load(Ordering::SeqCst) {
                next += 1;
                let ok = std::process::Command::new(&program)
                    .envs(envs.iter().cloned())
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("INSERT INTO log VALUES ({next}, 'committed')")])
                    .output()
                    .unwrap()
                    .status
                    .success();
                if ok {
                    committed.lock().unwrap().push(next);
                }
            }
        })
    };
    while committed.lock().unwrap().len() < 3 {
        std::thread::yield_now();
    }
    let report = env.json(&["restore", &id, "--to", &pg.url("shop"), "--table", "public.log", "--yes"]);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let safety = report["safety_backup"]["id"].as_str().unwrap_or_else(|| panic!("{report}")).to_string();
    env.ok(&["restore", &safety, "--to", &pg.url("kept")]);
    let ids =
        |db: &str| -> std::collections::BTreeSet<i64> { pg.sql(db, "SELECT id FROM log").lines().map(|l| l.parse().unwrap()).collect() };
    let (in_safety, in_result) = (ids("kept"), ids("shop"));
    let committed = committed.lock().unwrap().clone();
    let lost: Vec<&i64> = committed.iter().filter(|id| !in_safety.contains(id) && !in_result.contains(id)).collect();
    assert!(lost.is_empty(), "{} of {} commits lost: {lost:?}", lost.len(), committed.len());
    assert!(in_result.contains(&1), "the backup's row came back");
    assert!(in_safety.iter().any(|id| *id > 1_000_000), "the safety backup holds the writer's commits");
}
