//! lifeboat's HTTP API, served by the daemon (`[api] listen`). Every route is one row of the
//! table in `routes.rs`: its method, path, the role it needs and what it answers; the router and
//! the OpenAPI document (`GET /api/v1/openapi.json`) are both made from that table, so no
//! route can be served without declaring who may use it, or be missing from the document.
//! Handlers translate HTTP to one typed call of the operations layer (`lifeboat-daemon`) and
//! back; they hold no job logic of their own.

mod auth;
mod error;
mod handlers;
mod openapi;
mod routes;
mod snapshots;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use lifeboat_daemon::{
    ApiConfig, Config, DaemonError, Door, FrontDoor, Runner, Submitter,
    access::{Access, AuditEvent},
};
use lifeboat_engine::Repo;

pub use error::ApiError;

/// What every handler reads.
pub struct App {
    pub state_dir: PathBuf,
    /// `state.db`, opened once: every request's token check and job-log question goes through
    /// this one connection instead of opening the file again.
    store: std::sync::Mutex<Access>,
    pub config: Config,
    pub api: ApiConfig,
    pub submit: Submitter,
    pub repo: Repo,
    pub runner: Arc<Runner>,
    pub snapshots: snapshots::SnapshotCache,
    pub health: lifeboat_daemon::metrics::SharedHealth,
    /// The token of `[metrics] token_file`, which may scrape `/metrics` and nothing else.
    pub metrics_token: Option<String>,
}

/// The API as the daemon's front door: opened on its own runtime, closed gracefully.
pub struct Server {
    config: Config,
    api: ApiConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The API `config` asks for (`[api]`), if any.
    pub fn for_config(config: &Config) -> Option<Self> {
        Some(Self { config: config.clone(), api: config.api.clone()?, stop: None, thread: None })
    }
}

/// Requests larger than this are refused (413): every body the API takes is a few fields.
const BODY_LIMIT: usize = 64 * 1024;
/// A request not answered by then gets 503 (listings and health are answered in milliseconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl FrontDoor for Server {
    fn open(&mut self, door: Door) -> Result<(), DaemonError> {
        let failed = |context: String, err: std::io::Error| {
            DaemonError::config(context, "choose another [api] listen address, or stop what holds this one").with_source(err)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lifeboat-api")
            // Answering dashboards must not slow the backups they watch: the API's threads
            // (workers and blocking ones alike) yield the CPU to the jobs.
            .on_thread_start(lifeboat_engine::lower_this_thread)
            .enable_all()
            .build()
            .map_err(|e| failed("cannot start the API's threads".into(), e))?;
        let addr: SocketAddr = self.api.listen;
        let listener =
            runtime.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| failed(format!("cannot listen on {addr} for the API"), e))?;
        let metrics_token = match &self.config.metrics_token_file {
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        DaemonError::config(
                            format!("cannot read [metrics] token_file {}", file.display()),
                            "check the file and its permissions",
                        )
                        .with_source(e)
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let app = Arc::new(App {
            store: std::sync::Mutex::new(Access::open(&self.config.state_dir)?),
            state_dir: self.config.state_dir.clone(),
            config: self.config.clone(),
            api: self.api.clone(),
            submit: door.submit,
            repo: door.repo,
            runner: door.runner,
            snapshots: snapshots::SnapshotCache::default(),
            health: door.health,
            metrics_token: metrics_token.filter(|t| !t.is_empty()),
        });
        let router = routes::router(app, BODY_LIMIT, REQUEST_TIMEOUT);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.thread = Some(std::thread::spawn(move || {
            runtime.block_on(async move {
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                let _ = axum::serve(listener, service)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        }));
        Ok(())
    }

    fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends `event` to the audit log, off the async threads.
async fn audit(app: &Arc<App>, event: AuditEvent) -> Result<(), ApiError> {
    stored(app, move |store| Ok(store.audit(&event).map(|_| ())?)).await
}

/// Runs `work` on the state store, on a blocking thread.
async fn stored<T: Send + 'static>(
    app: &Arc<App>,
    work: impl FnOnce(&Access) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    blocking(move || work(&app.store.lock().unwrap_or_else(|p| p.into_inner()))).await
}

/// Runs `work` (SQLite, the repository) on a blocking thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

/// `N` bytes from the operating system's random source.
fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system's random source");
    bytes
}
