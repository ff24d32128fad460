//! Throwaway PostgreSQL clusters for tests: `initdb` + `pg_ctl` in a temp folder on a free
//! port, run as the `postgres` user when the tests run as root (the server refuses root).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use super::{free_port, is_root, text};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
}

/// The newest server binaries on this machine (`scripts/setup` installs them).
fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server packages are installed by scripts/setup")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin").1
}

impl Cluster {
    /// A new cluster with a superuser `postgres` (trusted on the socket) that also listens on
    /// 127.0.0.1 with password authentication (for wrong-password tests).
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A cluster that also accepts TLS on 127.0.0.1 with a certificate for `localhost`, signed
    /// by the test's own CA (`tls_root()`).
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    pub fn tls_root(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(tls: bool) -> Self {
        let dir = tempfile::Builder::new().prefix("lifeboat-pg-").tempdir().unwrap();
        let bin = server_bin();
        let port = free_port();
        let cluster = Self { dir, port, bin };
        if is_root() {
            Command::new("chown").args(["-R", "postgres:postgres"]).arg(cluster.dir.path()).status().unwrap();
        }
        let data = cluster.dir.path().join("data");
        cluster.as_server(&[
            cluster.bin.join("initdb").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C",
        ]);
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n").unwrap();
        let mut options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", cluster.dir.path().display());
        if tls {
            super::tls::certificates(cluster.dir.path(), "DNS:localhost");
            let (crt, key) = (cluster.dir.path().join("server.pem"), cluster.dir.path().join("server.key"));
            if is_root() {
                Command::new("chown").args(["postgres:postgres"]).arg(&key).arg(&crt).status().unwrap();
            }
            options.push_str(&format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", crt.display(), key.display()));
        }
        cluster.as_server(&[
            cluster.bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-o",
            &options,
            "-l",
            cluster.dir.path().join("log").to_str().unwrap(),
            "-w",
            "start",
        ]);
        cluster
    }

    fn as_server(&self, args: &[&str]) -> Output {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]);
            c
        } else {
            Command::new(args[0])
        };
        cmd.args(if is_root() { args } else { &args[1..] });
        let out = cmd.current_dir(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
        out
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin.join(program)
    }

    /// A libpq URL of database `db` as the superuser, over the Unix socket.
    pub fn url(&self, db: &str) -> String {
        self.url_as(db, "postgres")
    }

    pub fn url_as(&self, db: &str, user: &str) -> String {
        format!("postgres:///{db}?host={}&port={}&user={user}", self.dir.path().display(), self.port)
    }

    /// A client tool against `db`, as the superuser.
    pub fn tool(&self, program: &str, db: &str) -> Command {
        let mut cmd = Command::new(self.bin(program));
        cmd.env("PGHOST", self.dir.path()).env("PGPORT", self.port.to_string()).env("PGUSER", "postgres").env("PGDATABASE", db);
        cmd
    }

    /// Runs `sql` in `db` and returns the output, unaligned, without headers.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = self.tool("psql", db).args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().unwrap();
        assert!(out.status.success(), "psql failed on {sql}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs a script (several statements, psql meta-commands allowed) in `db`.
    pub fn script(&self, db: &str, script: &str) {
        use std::io::Write;
        let mut child = self
            .tool("psql", db)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "script failed: {}", text(&out.stderr));
    }

    pub fn databases(&self) -> Vec<String> {
        self.sql("postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1").lines().map(String::from).collect()
    }

    /// Runs `contrib/restore-postgres-with-restic` (restic, zstd, jq and psql, no lifeboat) on
    /// snapshot `snapshot` of the repository's database `name`, into the new empty database
    /// `db`.
    pub fn restore_with_restic_recipe(&self, env: &super::Env, snapshot: &str, name: &str, db: &str) {
        self.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE template0"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/restore-postgres-with-restic");
        let path = format!("{}:{}", self.bin("psql").parent().unwrap().display(), std::env::var("PATH").unwrap());
        let out = Command::new(script)
            .args([env.repo.to_str().unwrap(), snapshot, name, &self.url(db)])
            .env("RESTIC_PASSWORD", super::PASSWORD)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(out.status.success(), "the restic-only recipe failed: {}", text(&out.stderr));
    }

    /// What a faithful restore must give back: the schema as pg_dump prints it, every table's
    /// rows (as sorted text, hashed), sequence values and large objects.
    pub fn fingerprint(&self, db: &str) -> Fingerprint {
        let out = self.tool("pg_dump", db).args(["--schema-only"]).output().unwrap();
        assert!(out.status.success(), "pg_dump failed: {}", text(&out.stderr));
        // Comments and psql's \restrict keys differ from run to run; the DDL must not.
        let schema = text(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n");
        let tables = self.sql(
            db,
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' ORDER BY 1",
        );
        let rows = tables
            .lines()
            .map(|t| {
                let populated =
                    self.sql(db, &format!("SELECT relispopulated FROM pg_class WHERE oid = '{}'::regclass", t.replace('\'', "''")));
                let content = if populated.trim() == "f" {
                    "not populated".to_string()
                } else {
                    self.sql(
                        db,
                        &format!("SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM {t} AS x"),
                    )
                };
                format!("{t}: {}", content.trim())
            })
            .collect();
        let sequences = self
            .sql(db, "SELECT schemaname || '.' || sequencename || '=' || coalesce(last_value::text, 'unset') FROM pg_sequences ORDER BY 1");
        let large_objects = self.sql(db, "SELECT oid || ':' || md5(lo_get(oid)) || ':' || pg_get_userbyid(lomowner) || ':' || coalesce(lomacl::text, '') FROM pg_largeobject_metadata ORDER BY oid");
        Fingerprint { schema, rows, sequences, large_objects, database: self.database_properties(db) }
    }

    /// What belongs to database `db` itself, whatever it is called: owner, comment, ACL,
    /// connection limit, encoding, collation, locale provider, and its settings (its own and
    /// those of roles in it).
    pub fn database_properties(&self, db: &str) -> String {
        self.sql(
            "postgres",
            &format!(
                "SELECT jsonb_build_object('owner', pg_get_userbyid(d.datdba), 'comment', shobj_description(d.oid, 'pg_database'),
                   'acl', d.datacl::text, 'settings', (SELECT jsonb_agg(jsonb_build_object('role', s.setrole::regrole::text, 'config', s.setconfig) ORDER BY s.setrole)
                                                      FROM pg_db_role_setting s WHERE s.setdatabase = d.oid))
                   || (to_jsonb(d) - 'oid' - 'datname' - 'datdba' - 'datacl' - 'datfrozenxid' - 'datminmxid')
                 FROM pg_database d WHERE d.datname = '{}'",
                db.replace('\'', "''")
            ),
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub database: String,
    pub schema: String,
    pub rows: Vec<String>,
    pub sequences: String,
    pub large_objects: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Cluster {
    /// Stops the server at once and removes its folder. Removed here, not only when the
    /// cluster is dropped: a cluster shared through a static is never dropped, and each run
    /// left a gigabyte behind in /tmp until the disk filled.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let _ = self.as_server_quiet(&[self.bin.join("pg_ctl").to_str().unwrap(), "-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(self.dir.path());
    }

    /// The cluster's folder (data, log, certificates).
    pub fn folder(&self) -> &Path {
        self.dir.path()
    }
}

impl Cluster {
    fn as_server_quiet(&self, args: &[&str]) -> std::io::Result<Output> {
        if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output()
        } else {
            Command::new(args[0]).args(&args[1..]).output()
        }
    }
}
