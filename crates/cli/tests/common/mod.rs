//! Test harness: a throwaway repository and helpers to run the real binary and compare
//! databases with the stock sqlite3 shell.
#![allow(dead_code)]

pub mod daemon;
pub mod json_doc;
pub mod pg;
pub mod proxy;
pub mod s3;
pub mod tls;
pub mod webhook;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The repository's folder (for an S3 repository, a folder nothing uses).
    pub repo: PathBuf,
    /// What `--repo` is: the folder, or an S3 URL.
    pub url: String,
}

impl Env {
    /// A temp folder with an initialised repository in it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let url = repo.to_str().unwrap().to_string();
        let env = Self { dir, repo, url };
        env.ok(&["init"]);
        env
    }

    /// A temp folder, and an initialised repository at `url` (S3; the test server's
    /// credentials are in every command's environment).
    pub fn on(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("unused-repo");
        let env = Self { dir, repo, url: url.to_string() };
        env.ok(&["init"]);
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(args)
            .env("LIFEBOAT_REPO", &self.url)
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY)
            .env("TZ", "UTC")
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "lifeboat {args:?} failed:\nstdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs and asserts failure with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "lifeboat {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Backs up `db` and returns the new snapshot's full id.
    pub fn backup(&self, db: &Path, extra: &[&str]) -> String {
        self.backup_url(db.to_str().unwrap(), extra)
    }

    /// Backs up the database at `url` (a path or a URL) and returns the new snapshot's full id.
    pub fn backup_url(&self, url: &str, extra: &[&str]) -> String {
        let mut args = vec!["backup", url];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        v["snapshot"]["id"].as_str().unwrap().to_string()
    }

    /// Runs stock `restic` on the repository, asserts success; returns stdout.
    pub fn restic(&self, args: &[&str]) -> Vec<u8> {
        let out = restic(&self.url, PASSWORD).args(args).output().expect("restic is installed by scripts/setup");
        assert!(out.status.success(), "restic {args:?}: {}", text(&out.stderr));
        out.stdout
    }

    pub fn snapshot_count(&self) -> usize {
        self.json(&["snapshots"])["snapshots"].as_array().unwrap().len()
    }
}

/// Stock `restic` on the repository at `repo` (a folder or an S3 URL of the test servers),
/// opened with `password`; arguments go after.
pub fn restic(repo: impl AsRef<std::ffi::OsStr>, password: &str) -> Command {
    let mut cmd = Command::new("restic");
    cmd.arg("-r")
        .arg(repo)
        .env("RESTIC_PASSWORD", password)
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY);
    cmd
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    unsafe { geteuid() == 0 }
}

/// Runs lifeboat as the unprivileged user 65534 (the tests run as root in CI, where file
/// permissions do not apply), with a repository of that user's own.
pub fn run_as_nobody(env: &Env, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    assert!(is_root(), "only root can switch users");
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = env.path("nobody");
    if !home.exists() {
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let run = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_lifeboat")])
            .args(args)
            .env("LIFEBOAT_REPO", home.join("repo"))
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .current_dir(&home)
            .output()
            .expect("setpriv is installed by scripts/setup (util-linux)")
    };
    if !home.join("repo").exists() {
        let init = run(&["init"]);
        assert!(init.status.success(), "init as nobody: {}", text(&init.stderr));
    }
    run(args)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sqlite3 DB .dump` from the stock shell.
pub fn dump(db: &Path) -> String {
    let out = Command::new("sqlite3").arg(db).arg(".dump").output().expect("sqlite3 is installed by scripts/setup");
    assert!(out.status.success(), "sqlite3 .dump failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The header settings a restore must keep.
pub fn header(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    ["page_size", "user_version", "application_id", "journal_mode", "encoding", "auto_vacuum", "freelist_count"]
        .iter()
        .map(|p| format!("{p}={:?}", conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap()))
        .collect()
}

pub fn sql(db: &Path, statements: &str) {
    rusqlite::Connection::open(db).unwrap().execute_batch(statements).unwrap();
}

pub fn count(db: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(db).unwrap().query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// A small database with two related tables.
pub fn small_db(path: &Path) {
    sql(
        path,
        "PRAGMA journal_mode=wal;
         CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);
         INSERT INTO users VALUES (1,'ada'),(2,'grace'),(3,'linus');
         INSERT INTO orders VALUES (1,1,9.5),(2,1,3.25),(3,2,100.0);",
    );
}

/// `app.db` (a [`small_db`]) backed up twice, with a user added in between: its path, then the
/// two snapshot ids.
pub fn two_backups(env: &Env) -> (PathBuf, String, String) {
    let db = env.path("app.db");
    small_db(&db);
    let first = env.backup(&db, &[]);
    sql(&db, "INSERT INTO users VALUES (4, 'barbara');");
    let second = env.backup(&db, &[]);
    (db, first, second)
}

/// The lower-case hex SHA-256 of `bytes`, from the stock `sha256sum`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// A database of about `mb` megabytes of random rows (`t`, `mb` × 1000 rows of 1000 bytes).
pub fn big_db(path: &Path, mb: u32) {
    sql(
        path,
        &format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {}) INSERT INTO t SELECT n, randomblob(1000) FROM g;",
            mb * 1000
        ),
    );
}

/// Sends signal `name` (`STOP`, `CONT`, `TERM`, …) to `job`.
pub fn signal(job: &std::process::Child, name: &str) {
    assert!(Command::new("kill").arg(format!("-{name}")).arg(job.id().to_string()).status().unwrap().success());
}

/// Every file below `dir` (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// Whether a backup is writing a pack right now, or a killed one left one half-written (a
/// `-tmp-` file in `data/`).
pub fn partial_packs(env: &Env) -> bool {
    walk(&env.repo.join("data")).iter().any(|p| p.to_string_lossy().ends_with("-tmp-"))
}

/// The repository's lock files, complete ones only: a lock being written is a `-tmp-` file
/// that holds nothing yet for another process to respect.
pub fn lock_files(env: &Env) -> Vec<PathBuf> {
    walk(&env.repo.join("locks")).into_iter().filter(|p| !p.to_string_lossy().ends_with("-tmp-")).collect()
}

/// Waits until `ready` holds while `job` runs: kills and races are timed by what the job was
/// seen doing, not by sleeps. Panics if the job ends first, or after 12 s.
pub fn wait_until(job: &mut std::process::Child, what: &str, ready: impl Fn() -> bool) {
    for _ in 0..6000 {
        if ready() {
            return;
        }
        assert!(job.try_wait().unwrap().is_none(), "the job ended before {what}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    panic!("{what} never happened");
}

/// Runs `script` with `sh` in a private mount namespace (unshare), so that the mounts it makes
/// (a small tmpfs, a read-only bind) leak to nothing else; in the env's folder, with `LB` the
/// lifeboat binary, `LIFEBOAT_REPO` the repository given, the password and `vars` set. Asserts
/// the script itself (its setup) succeeded; returns a reader of the files it wrote there.
pub fn in_mount_namespace(env: &Env, repo: &Path, script: &str, vars: &[(&str, &str)]) -> impl Fn(&str) -> String + use<> {
    let out = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", script])
        .env("LB", env!("CARGO_BIN_EXE_lifeboat"))
        .env("LIFEBOAT_REPO", repo)
        .env("LIFEBOAT_PASSWORD", PASSWORD)
        .envs(vars.iter().copied())
        .current_dir(env.dir.path())
        .output()
        .expect("unshare is installed by scripts/setup (util-linux)");
    assert!(out.status.success(), "the script's setup failed: {out:?}");
    let dir = env.dir.path().to_path_buf();
    move |name: &str| std::fs::read_to_string(dir.join(name)).unwrap()
}
