//! One suite, every engine × storage: each scenario runs against SQLite files and a
//! PostgreSQL cluster (one cluster for this whole test binary), on a local folder and on an S3
//! bucket (one moto server for this binary), through the real binary, comparing what comes
//! back with what went in. Each combination is a test of its own, named by its cell
//! (`postgres::s3::a_one_table_restore_changes_that_table_and_nothing_else`), so a failure says
//! where; [`suite!`] at the end registers the engines. Engine-specific behaviour (PostgreSQL's
//! `--as`, session handling, SQLite's WAL and modes) is tested in the engines' own files.

mod common;

use std::{path::Path, sync::LazyLock};

use common::{pg::Cluster, s3::S3Server, *};

/// Runs `stop` when the test binary exits (statics are never dropped).
fn at_exit(stop: extern "C" fn()) {
    unsafe extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    // SAFETY: registers a plain function; it runs once at exit.
    unsafe { atexit(stop) };
}

/// The shared cluster; stopped when the test binary exits.
static CLUSTER: LazyLock<Cluster> = LazyLock::new(|| {
    extern "C" fn stop() {
        CLUSTER.stop();
    }
    let cluster = Cluster::start();
    at_exit(stop);
    cluster
});

/// The shared S3 server; stopped when the test binary exits.
static MOTO: LazyLock<S3Server> = LazyLock::new(|| {
    extern "C" fn stop() {
        MOTO.stop();
    }
    let server = S3Server::moto();
    at_exit(stop);
    server
});

/// Where a repository is kept.
#[derive(Clone, Copy)]
enum Storage {
    Folder,
    S3,
}

impl Storage {
    fn name(self) -> &'static str {
        match self {
            Self::Folder => "folder",
            Self::S3 => "s3",
        }
    }

    /// A temp folder and a new repository on this storage.
    fn env(self) -> Env {
        match self {
            Self::Folder => Env::new(),
            Self::S3 => Env::on(&MOTO.new_url()),
        }
    }
}

/// A database engine under test: how to make, change and compare its databases.
trait Subject: Sync {
    fn name(&self) -> &'static str;
    /// A new database called `name` (nothing in it yet) and its URL for lifeboat.
    fn create(&self, env: &Env, name: &str) -> String;
    /// The URL of a database called `name` that does not exist.
    fn absent(&self, env: &Env, name: &str) -> String;
    fn exec(&self, url: &str, sql: &str);
    /// One value (or rows joined by newlines) of `query`.
    fn query(&self, url: &str, query: &str) -> String;
    /// Schema and every row, for comparing two databases.
    fn fingerprint(&self, url: &str) -> String;
    /// A trigger that writes to `audit` on every insert or delete in `users`.
    fn audit_trigger(&self) -> &'static str;
    /// A statement that fills table `big` with about 100 MB.
    fn fill_big(&self) -> &'static str;
    /// Whether a restore into database `name` has a staged copy beside it now.
    fn staged(&self, env: &Env, name: &str) -> bool;
}

struct Sqlite;
struct Postgres;

impl Subject for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn create(&self, env: &Env, name: &str) -> String {
        let path = env.path(&format!("{name}.db"));
        sql(&path, "PRAGMA journal_mode=wal;");
        path.to_str().unwrap().to_string()
    }
    fn absent(&self, env: &Env, name: &str) -> String {
        env.path(&format!("{name}.db")).to_str().unwrap().to_string()
    }
    fn exec(&self, url: &str, statements: &str) {
        sql(Path::new(url), &format!("PRAGMA foreign_keys=ON; {statements}"));
    }
    fn query(&self, url: &str, query: &str) -> String {
        let out = std::process::Command::new("sqlite3").arg(url).arg(query).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }
    fn fingerprint(&self, url: &str) -> String {
        dump(Path::new(url))
    }
    fn audit_trigger(&self) -> &'static str {
        "CREATE TRIGGER users_in AFTER INSERT ON users BEGIN INSERT INTO audit VALUES ('insert ' || new.id); END;
         CREATE TRIGGER users_out AFTER DELETE ON users BEGIN INSERT INTO audit VALUES ('delete ' || old.id); END;"
    }
    fn fill_big(&self) -> &'static str {
        "CREATE TABLE big(id INTEGER PRIMARY KEY, v BLOB); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200) INSERT INTO big SELECT n, randomblob(500000) FROM g;"
    }
    fn staged(&self, env: &Env, name: &str) -> bool {
        std::fs::metadata(env.path(&format!(".{name}.db.lifeboat-partial"))).is_ok_and(|m| m.len() > 0)
    }
}

impl Subject for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn create(&self, _env: &Env, name: &str) -> String {
        CLUSTER.sql("postgres", &format!("CREATE DATABASE {name}"));
        CLUSTER.url(name)
    }
    fn absent(&self, _env: &Env, name: &str) -> String {
        CLUSTER.url(name)
    }
    fn exec(&self, url: &str, statements: &str) {
        CLUSTER.script(database(url), statements);
    }
    fn query(&self, url: &str, query: &str) -> String {
        CLUSTER.sql(database(url), query).trim().to_string()
    }
    fn fingerprint(&self, url: &str) -> String {
        format!("{:?}", CLUSTER.fingerprint(database(url)))
    }
    fn audit_trigger(&self) -> &'static str {
        "CREATE FUNCTION audit_users() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           INSERT INTO audit VALUES (lower(TG_OP) || ' ' || coalesce(NEW.id, OLD.id)); RETURN NULL; END $$;
         CREATE TRIGGER users_audit AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION audit_users();"
    }
    fn fill_big(&self) -> &'static str {
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS v FROM generate_series(1, 1500000) g; ALTER TABLE big ADD PRIMARY KEY (id);"
    }
    fn staged(&self, _env: &Env, name: &str) -> bool {
        CLUSTER.databases().iter().any(|d| d == &format!("{name}_lifeboat_new"))
    }
}

/// The database name in a cluster URL (`postgres:///NAME?host=…`).
fn database(url: &str) -> &str {
    url.trim_start_matches("postgres:///").split('?').next().unwrap()
}

/// Every engine registered in [`suite!`], for the scenarios that need another one.
static SUBJECTS: [&dyn Subject; 2] = [&Sqlite, &Postgres];

/// Which run failed: engine and storage.
fn who(storage: Storage, subject: &dyn Subject) -> String {
    format!("{} on {}", subject.name(), storage.name())
}

/// Each engine's database names are unique per test, so tests share the cluster safely.
fn named(subject: &dyn Subject, test: &str) -> String {
    format!("{test}_{}", subject.name())
}

/// users and orders (ON DELETE CASCADE), an audit table and its triggers, some rows.
fn shop(subject: &dyn Subject, env: &Env, name: &str) -> String {
    let url = subject.create(env, name);
    subject.exec(
        &url,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, total NUMERIC);
             CREATE TABLE audit (what TEXT);
             {}
             INSERT INTO users VALUES (1, 'ada'), (2, 'grace'), (3, 'linus');
             INSERT INTO orders VALUES (10, 1, 9.5), (11, 1, 3.25), (12, 2, 100);
             DELETE FROM audit;",
            subject.audit_trigger()
        ),
    );
    url
}

fn round_trip_gives_back_what_went_in(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let test = format!("trip_{}", storage.name());
    let url = shop(subject, &env, &named(subject, &test));
    let before = subject.fingerprint(&url);
    let id = env.backup_url(&url, &[]);
    let copy = subject.absent(&env, &named(subject, &format!("{test}_copy")));
    env.ok(&["restore", &id, "--to", &copy]);
    assert_eq!(subject.fingerprint(&copy), before, "{}", who(storage, subject));
    let report = env.json(&["verify", &id])["drills"][0].clone();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{}: {report}", who(storage, subject));
    env.ok(&["check", "--read-data"]);
}

fn a_restore_over_a_live_database_asks_keeps_what_it_replaces_and_latest_stays_good(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let test = format!("over_{}", storage.name());
    let url = shop(subject, &env, &named(subject, &test));
    let good = subject.fingerprint(&url);
    env.backup_url(&url, &[]);
    subject.exec(&url, "DELETE FROM orders; INSERT INTO users VALUES (4, 'mallory');");
    let broken = subject.fingerprint(&url);

    let err = env.fails(&["restore", "latest", "--to", &url], 1);
    assert!(err.contains("--yes"), "{}: {err}", who(storage, subject));
    assert_eq!(subject.fingerprint(&url), broken, "{}: refused, nothing changed", who(storage, subject));
    assert_eq!(env.snapshot_count(), 1);

    let out = env.json(&["restore", "latest", "--to", &url, "--yes"]);
    assert_eq!(subject.fingerprint(&url), good, "{}", who(storage, subject));
    let safety = out["safety_backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(out["safety_backup"]["class"], "safety");
    // `latest` is still the good backup, and the safety backup holds the broken state.
    assert_ne!(env.json(&["show", "latest"])["snapshot"]["id"], safety.as_str());
    let kept = subject.absent(&env, &named(subject, &format!("{test}_kept")));
    env.ok(&["restore", &safety[..8], "--to", &kept]);
    assert_eq!(subject.fingerprint(&kept), broken, "{}", who(storage, subject));
}

fn a_one_table_restore_changes_that_table_and_nothing_else(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let test = format!("table_{}", storage.name());
    let url = shop(subject, &env, &named(subject, &test));
    env.backup_url(&url, &[]);
    subject.exec(
        &url,
        "UPDATE users SET name = 'oops'; INSERT INTO orders VALUES (13, 3, 1); DELETE FROM audit; INSERT INTO audit VALUES ('kept');",
    );
    let orders = subject.query(&url, "SELECT id || ':' || user_id FROM orders ORDER BY id");

    env.ok(&["restore", "latest", "--to", &url, "--table", "users", "--yes"]);
    let who = who(storage, subject);
    assert_eq!(subject.query(&url, "SELECT name FROM users ORDER BY id"), "ada\ngrace\nlinus", "{who}");
    assert_eq!(subject.query(&url, "SELECT id || ':' || user_id FROM orders ORDER BY id"), orders, "{who}: no cascade");
    assert_eq!(subject.query(&url, "SELECT what FROM audit"), "kept", "{who}: no trigger fired");
    subject.exec(&url, "INSERT INTO users VALUES (5, 'new');");
    assert_eq!(subject.query(&url, "SELECT what FROM audit ORDER BY what"), "insert 5\nkept", "{who}: the triggers are back");

    // Rows pointing at a user the backup does not have: rolled back, the row named.
    subject.exec(&url, "INSERT INTO orders VALUES (14, 5, 1);");
    let before = subject.fingerprint(&url);
    let err = env.fails(&["restore", "latest", "--to", &url, "--table", "users", "--yes"], 1);
    assert!(err.contains("foreign key") && err.contains("orders") && err.contains("14"), "{who}: {err}");
    assert_eq!(subject.fingerprint(&url), before, "{who}: rolled back");

    let err = env.fails(&["restore", "latest", "--to", &url, "--table", "nope", "--yes"], 2);
    assert!(err.contains("no table `nope`"), "{who}: {err}");
}

fn a_backup_killed_mid_way_leaves_no_snapshot_and_the_next_one_works(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let url = subject.create(&env, &named(subject, &format!("killb_{}", storage.name())));
    subject.exec(&url, subject.fill_big());
    let mut backup = env.cmd(&["backup", &url]).spawn().unwrap();
    wait_until(&mut backup, "a pack was being written", || partial_packs(&env));
    backup.kill().unwrap();
    backup.wait().unwrap();
    assert_eq!(env.snapshot_count(), 0, "{}", subject.name());
    env.backup_url(&url, &[]);
    env.ok(&["forget", "--keep-last", "1", "--prune", "--yes", "--lock-wait", "1s"]);
    assert!(!partial_packs(&env), "{}: the prune removed the killed backup's partial pack", subject.name());
    assert!(lock_files(&env).is_empty(), "{}: and its lock", subject.name());
    env.ok(&["check", "--read-data"]);
    assert!(env.ok(&["verify", "latest"]).contains("verify: OK"), "{}", subject.name());
}

fn a_restore_killed_mid_way_leaves_the_live_database_untouched(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let url = subject.create(&env, &named(subject, &format!("killr_{}", storage.name())));
    subject.exec(&url, subject.fill_big());
    let rows = subject.query(&url, "SELECT count(*) FROM big");
    let id = env.backup_url(&url, &[]);
    subject.exec(&url, "DELETE FROM big WHERE id > 5");
    let live = subject.fingerprint(&url);

    let mut restore = env.cmd(&["restore", &id, "--to", &url, "--yes"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    // Killed while the staged copy is being written: after the safety backup, before the swap.
    let name = named(subject, &format!("killr_{}", storage.name()));
    wait_until(&mut restore, "the staged copy was being written", || subject.staged(&env, &name));
    restore.kill().unwrap();
    restore.wait().unwrap();
    assert_eq!(subject.fingerprint(&url), live, "{}: the live database is untouched", subject.name());

    env.ok(&["restore", &id, "--to", &url, "--yes"]);
    assert_eq!(subject.query(&url, "SELECT count(*) FROM big"), rows, "{}", subject.name());
    assert!(!subject.staged(&env, &name), "{}: the leftover staged copy is gone", subject.name());
}

fn bad_input_is_a_clear_error_and_changes_nothing(storage: Storage, subject: &dyn Subject) {
    let env = storage.env();
    let url = shop(subject, &env, &named(subject, &format!("bad_{}", storage.name())));
    let before = subject.fingerprint(&url);
    let who = subject.name();
    let err = env.fails(&["restore", "latest", "--to", &url, "--yes"], 2);
    assert!(err.contains("no backup"), "{who}: {err}");
    env.backup_url(&url, &[]);
    let err = env.fails(&["restore", "deadbeef", "--to", &url, "--yes"], 2);
    assert!(err.contains("no snapshot"), "{who}: {err}");
    let err = env.fails(&["backup", &url, "--class", "often"], 2);
    assert!(err.contains("not a backup class"), "{who}: {err}");
    let other = SUBJECTS.iter().find(|s| s.name() != who).unwrap();
    let err = env.fails(&["restore", "latest", "--to", &other.absent(&env, "elsewhere"), "--yes"], 2);
    assert!(err.contains("cannot be restored into a"), "{who}: {err}");
    assert_eq!(subject.fingerprint(&url), before, "{who}");
    assert_eq!(env.snapshot_count(), 1);
}

/// One test per cell: `$engine::$storage::$scenario`, each calling the scenario above with its
/// engine and storage. A new engine gets the whole suite by a line in the `suite!` call.
macro_rules! cells {
    ($subject:expr, $storage:ident = $place:expr, [$($scenario:ident),* $(,)?]) => {
        mod $storage {
            $(
                #[test]
                fn $scenario() {
                    crate::$scenario($place, $subject)
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($engine:ident = $subject:expr;)*) => {$(
        mod $engine {
            cells!($subject, folder = crate::Storage::Folder, [
                round_trip_gives_back_what_went_in,
                a_restore_over_a_live_database_asks_keeps_what_it_replaces_and_latest_stays_good,
                a_one_table_restore_changes_that_table_and_nothing_else,
                a_backup_killed_mid_way_leaves_no_snapshot_and_the_next_one_works,
                a_restore_killed_mid_way_leaves_the_live_database_untouched,
                bad_input_is_a_clear_error_and_changes_nothing,
            ]);
            // The scenarios that go through the repository's storage. The others are about the
            // database side, and look at a folder's packs and locks: they run on a folder.
            cells!($subject, s3 = crate::Storage::S3, [
                round_trip_gives_back_what_went_in,
                a_restore_over_a_live_database_asks_keeps_what_it_replaces_and_latest_stays_good,
                a_one_table_restore_changes_that_table_and_nothing_else,
            ]);
        }
    )*};
}

suite! {
    sqlite = &crate::Sqlite;
    postgres = &crate::Postgres;
}
