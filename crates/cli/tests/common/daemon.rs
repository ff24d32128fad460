//! The daemon as a real process: its configuration written to the test's folder, its event
//! lines captured to a file the test reads while it runs, its job log read through
//! `lifeboat log --json`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use super::{Env, PASSWORD};

/// How long a test waits for something the daemon should do before it fails.
const PATIENCE: Duration = Duration::from_secs(90);

pub struct Daemon {
    pub child: Child,
    events: PathBuf,
}

/// Writes `lifeboat.toml` in the env's folder: the env's repository, a state folder beside
/// it, then `rest` (limits and databases).
pub fn write_config(env: &Env, rest: &str) -> PathBuf {
    let path = env.path("lifeboat.toml");
    let text = format!("[repository]\nurl = \"{}\"\n\n[state]\ndir = \"state\"\n\n{rest}", env.repo.display());
    std::fs::write(&path, text).unwrap();
    path
}

impl Daemon {
    /// Starts `lifeboat daemon --config config`; its stderr goes to `events-<n>.log`.
    pub fn start(env: &Env, config: &Path) -> Self {
        Self::start_with(env, config, &[])
    }

    /// Like [`Daemon::start`], with environment variables `vars` set for it.
    pub fn start_with(env: &Env, config: &Path, vars: &[(&str, &str)]) -> Self {
        let n = (0..).find(|n| !env.path(&format!("events-{n}.log")).exists()).unwrap();
        let events = env.path(&format!("events-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(["daemon", "--config"])
            .arg(config)
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .env_remove("LIFEBOAT_REPO")
            .env("TZ", "UTC")
            .envs(vars.iter().copied())
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&events).unwrap())
            .spawn()
            .unwrap();
        let mut daemon = Self { child, events };
        daemon.wait_for("the daemon to start", |events, _| events.contains(" started: "));
        daemon
    }

    /// Everything the daemon has logged so far.
    pub fn events(&self) -> String {
        std::fs::read_to_string(&self.events).unwrap_or_default()
    }

    /// Waits until `ready(events, job log)` holds, observing the daemon (never a fixed sleep).
    /// Panics if the daemon exits first, or after [`PATIENCE`].
    pub fn wait_for(&mut self, what: &str, ready: impl Fn(&str, &[serde_json::Value]) -> bool) {
        let start = Instant::now();
        let config = self.config_dir().join("lifeboat.toml");
        loop {
            let jobs = jobs(&config);
            if ready(&self.events(), &jobs) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}) before {what}:\n{}", self.events());
            }
            assert!(start.elapsed() < PATIENCE, "{what} never happened:\n{}", self.events());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.events.parent().unwrap().to_path_buf()
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill -s {signal}");
    }

    /// Waits for the daemon to exit on its own; panics after 30 s.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not exit:\n{}", self.events());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The job log, oldest first, as `lifeboat log --json` prints it (read through the state
/// directory, so that it works while the configuration is broken on purpose).
pub fn jobs(config: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["log", "--json"])
        .env("LIFEBOAT_STATE_DIR", config.parent().unwrap().join("state"))
        .env_remove("LIFEBOAT_CONFIG")
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    value["jobs"].as_array().cloned().unwrap_or_default()
}

/// The jobs of `kind` for `database` that ended with `status`.
pub fn count(jobs: &[serde_json::Value], database: &str, kind: &str, status: &str) -> usize {
    jobs.iter().filter(|j| j["database"] == database && j["kind"] == kind && j["status"] == status).count()
}
