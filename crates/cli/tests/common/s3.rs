//! S3-compatible servers for tests, each on a free port and stopped when dropped.
//!
//! Two servers, because neither does everything (checked by `tests/s3.rs` with stock restic):
//! moto (`moto_server`, in memory) lists nested keys as S3 does and passes restic's own
//! `check --read-data`, but accepts any credentials; `s3s-fs` checks signatures, so it proves
//! that wrong credentials are refused, but does not list nested keys (`data/3f/…`).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use super::free_port;

/// The credentials every test server is started with.
pub const ACCESS_KEY: &str = "lifeboat-test";
pub const SECRET_KEY: &str = "test-secret-8f1c2a";

pub struct S3Server {
    child: Mutex<Option<Child>>,
    pub port: u16,
    scheme: &'static str,
    _root: Option<tempfile::TempDir>,
}

impl S3Server {
    /// moto's server mode, plain HTTP.
    pub fn moto() -> Self {
        Self::start_moto(None)
    }

    /// moto over HTTPS with `cert` and `key` (PEM files).
    pub fn moto_tls(cert: &Path, key: &Path) -> Self {
        Self::start_moto(Some((cert, key)))
    }

    fn start_moto(tls: Option<(&Path, &Path)>) -> Self {
        let port = free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((cert, key)) = tls {
            cmd.arg("--ssl-cert").arg(cert).arg("--ssl-key").arg(key);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("moto_server is installed by scripts/setup");
        Self::ready(child, port, if tls.is_some() { "https" } else { "http" }, None)
    }

    /// s3s-fs keeping its objects in a folder of its own, checking signatures against
    /// [`ACCESS_KEY`] and [`SECRET_KEY`].
    pub fn s3s_fs() -> Self {
        let port = free_port();
        let root = tempfile::tempdir().unwrap();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs is installed by scripts/setup");
        Self::ready(child, port, "http", Some(root))
    }

    /// Waits until the server accepts connections.
    fn ready(mut child: Child, port: u16, scheme: &'static str, root: Option<tempfile::TempDir>) -> Self {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the S3 server on port {port} exited at start: {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the S3 server on port {port} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child: Mutex::new(Some(child)), port, scheme, _root: root }
    }

    /// A repository URL in a bucket of its own on this server (a prefix too, as people use).
    pub fn new_url(&self) -> String {
        self.url_via(self.port)
    }

    /// The same kind of URL, but reaching the server through `port` (a proxy in front of it).
    pub fn url_via(&self, port: u16) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        format!("s3:{}://127.0.0.1:{port}/bucket-{}-{n}/lifeboat", self.scheme, std::process::id())
    }

    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
