//! Each handler turns one HTTP request into one call of the operations layer and its typed
//! answer back into JSON. What a caller may see is cut to its databases here; whether it may
//! call at all was decided by the route's guard.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Path, Query, Request, State, rejection::BytesRejection},
    http::StatusCode,
    middleware::Next,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use lifeboat_daemon::{
    Asked, Filter, JobRecord, StatsReport, Submission,
    access::{AuditEvent, Role},
    runner::ProgressEvent,
};
use serde::{Deserialize, Serialize};

use crate::{ApiError, App, auth::Who, blocking, stored};

/// An answer in `within`, or 503.
pub async fn within(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the request took too long", "try again; see the daemon's log")
                .into_response()
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("there is no such route", "GET /api/v1/openapi.json lists every route")
}

pub async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let app = app.clone();
    let text = blocking(move || Ok(lifeboat_daemon::metrics::scrape(&app.state_dir, &app.health)?)).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, lifeboat_daemon::metrics::CONTENT_TYPE)], text).into_response())
}

pub async fn openapi(State(app): State<Arc<App>>) -> Json<crate::openapi::Document> {
    Json(crate::openapi::document(&app.api.public_url))
}

/// Whether `who` may see `database`'s data.
fn sees(who: &Who, database: Option<&str>) -> bool {
    who.principal.may(Role::Viewer, database)
}

/// The daemon's latest evaluation, held in memory (what it also writes to `health.json`).
pub async fn health(State(app): State<Arc<App>>, who: Who) -> Result<Json<lifeboat_daemon::HealthReport>, ApiError> {
    let latest = app.health.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut report = latest.ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the daemon has not evaluated health yet", "try again in a minute")
    })?;
    report.databases.retain(|db| sees(&who, Some(&db.name)));
    report.findings.retain(|finding| sees(&who, finding.database.as_deref()));
    Ok(Json(report))
}

/// `GET /api/v1/databases`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Databases {
    pub databases: Vec<DatabaseInfo>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DatabaseInfo {
    pub name: String,
    /// `sqlite`, `postgres`.
    pub engine: Option<String>,
    /// Where it is, without credentials.
    pub source: Option<String>,
    /// Each backup class and its cron schedule.
    pub schedules: Vec<Schedule>,
    /// Older than this, its newest backup makes health critical.
    pub max_age_seconds: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Schedule {
    pub class: String,
    pub cron: String,
}

pub async fn databases(State(app): State<Arc<App>>, who: Who) -> Json<Databases> {
    let databases = app
        .config
        .databases
        .iter()
        .filter(|db| sees(&who, Some(&db.name)))
        .map(|db| {
            let opened = lifeboat_engine::open_database(db.url.expose()).ok();
            DatabaseInfo {
                name: db.name.clone(),
                engine: opened.as_ref().map(|d| d.engine().name().to_string()),
                source: opened.as_ref().map(|d| d.label()),
                schedules: db
                    .backups
                    .iter()
                    .map(|(class, cron)| Schedule { class: class.clone(), cron: cron.text().to_string() })
                    .collect(),
                max_age_seconds: db.max_age.as_secs(),
            }
        })
        .collect();
    Json(Databases { databases })
}

pub async fn stats(State(app): State<Arc<App>>, who: Who) -> Result<Json<StatsReport>, ApiError> {
    let mut report = stored(&app, |store| Ok(lifeboat_daemon::stats(store.jobs(), jiff::Timestamp::now())?)).await?;
    report.databases.retain(|s| sees(&who, Some(&s.totals.database)));
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
pub struct SnapshotsQuery {
    database: Option<String>,
    class: Option<String>,
}

pub async fn snapshots(State(app): State<Arc<App>>, who: Who, Query(query): Query<SnapshotsQuery>) -> Result<Response, ApiError> {
    if query.database.as_deref().is_some_and(|db| !sees(&who, Some(db))) {
        return Err(ApiError::forbidden(Role::Viewer));
    }
    let entries = listing(&app).await?;
    let shown: Vec<lifeboat_engine::BackupEntry> = entries
        .iter()
        .filter(|e| sees(&who, Some(&e.summary.database)))
        .filter(|e| query.database.as_ref().is_none_or(|db| &e.summary.database == db))
        .filter(|e| query.class.as_ref().is_none_or(|class| e.classes().contains(&class.as_str())))
        .cloned()
        .collect();
    Ok(Json(lifeboat_daemon::output::Snapshots { snapshots: &shown }).into_response())
}

pub async fn snapshot(
    State(app): State<Arc<App>>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Json<lifeboat_engine::ShowReport>, ApiError> {
    let entries = listing(&app).await?;
    let missing = || ApiError::not_found(format!("there is no backup `{id}`"), "GET /api/v1/snapshots lists them");
    let mut matching = entries.iter().filter(|e| e.id.starts_with(&id) && !id.is_empty() && sees(&who, Some(&e.summary.database)));
    let entry = matching.next().cloned().ok_or_else(missing)?;
    if matching.next().is_some() {
        return Err(ApiError::bad_request(format!("`{id}` is the start of several backups' ids"), "give more of the id"));
    }
    let app = app.clone();
    blocking(move || lifeboat_engine::show(&app.repo, &entry, None, None).map_err(ApiError::internal)).await.map(Json)
}

/// The repository's backups, from the cache.
async fn listing(app: &Arc<App>) -> Result<Arc<Vec<lifeboat_engine::BackupEntry>>, ApiError> {
    let app = app.clone();
    blocking(move || app.snapshots.entries(&app.repo, app.runner.ended()).map_err(ApiError::internal)).await
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Jobs {
    pub jobs: Vec<JobRecord>,
}

#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    database: Option<String>,
    status: Option<String>,
    since: Option<String>,
    last: Option<usize>,
}

pub async fn jobs(State(app): State<Arc<App>>, who: Who, Query(query): Query<JobsQuery>) -> Result<Json<Jobs>, ApiError> {
    let since = match &query.since {
        Some(text) => {
            let span =
                lifeboat_engine::parse_within(text).map_err(|e| ApiError::bad_request(e.to_string(), "write it like 36h, 7d or 2w"))?;
            Some(jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).checked_sub(span).map_err(ApiError::internal)?.timestamp())
        }
        None => None,
    };
    if query.database.as_deref().is_some_and(|db| !sees(&who, Some(db))) {
        return Err(ApiError::forbidden(Role::Viewer));
    }
    let last = query.last.unwrap_or(100).min(1000);
    // A caller limited to some databases asks for each of them (and the repository's own
    // jobs), so that the limit counts only what it may see.
    let asked: Vec<Option<String>> = match (&query.database, &who.principal.databases) {
        (Some(db), _) => vec![Some(db.clone())],
        (None, None) => vec![None],
        (None, Some(scope)) => scope.iter().cloned().map(Some).collect(),
    };
    let status = query.status.clone();
    let mut jobs = stored(&app, move |store| {
        let log = store.jobs();
        let mut all = Vec::new();
        for database in asked {
            let filter = Filter { database, since, status: status.clone(), newest_first: true, limit: Some(last), ..Filter::default() };
            all.extend(log.query(&filter)?);
        }
        Ok(all)
    })
    .await?;
    jobs.sort_by_key(|j| std::cmp::Reverse(j.id));
    jobs.truncate(last);
    Ok(Json(Jobs { jobs }))
}

pub async fn job(State(app): State<Arc<App>>, who: Who, Path(id): Path<i64>) -> Result<Json<JobRecord>, ApiError> {
    let job = stored(&app, move |store| Ok(store.jobs().job(id)?)).await?;
    match job {
        Some(job) if sees(&who, job.database.as_deref()) => Ok(Json(job)),
        _ => Err(ApiError::not_found(format!("there is no job {id}"), "GET /api/v1/jobs lists the jobs")),
    }
}

/// What a job's event stream carries.
enum Update {
    Progress(ProgressEvent),
    Ended(Box<JobRecord>),
}

/// `GET /api/v1/jobs/{id}/events`: a running job of this daemon is followed by a watcher of
/// its own (at most two events a second, the end at once); a job that is not running here
/// gets its `end` from the log at once.
pub async fn job_events(State(app): State<Arc<App>>, who: Who, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let job = stored(&app, move |store| Ok(store.jobs().job(id)?)).await?;
    let Some(job) = job.filter(|j| sees(&who, j.database.as_deref())) else {
        return Err(ApiError::not_found(format!("there is no job {id}"), "GET /api/v1/jobs lists the jobs"));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Update>(8);
    match app.runner.live().into_iter().find(|live| live.logged_as == Some(id)) {
        Some(live) => {
            let mut watcher = live.watch();
            let app = app.clone();
            tokio::task::spawn_blocking(move || {
                while let Some(event) = watcher.next(Duration::from_millis(500)) {
                    if tx.blocking_send(Update::Progress(event)).is_err() {
                        return;
                    }
                }
                // The runner records the end before it tells the watchers.
                let ended = app.store.lock().unwrap_or_else(|p| p.into_inner()).jobs().job(id);
                if let Ok(Some(ended)) = ended {
                    let _ = tx.blocking_send(Update::Ended(Box::new(ended)));
                }
            });
        }
        None => {
            let _ = tx.send(Update::Ended(Box::new(job))).await;
        }
    }
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let update = rx.recv().await?;
        let event = match update {
            Update::Progress(progress) => Event::default().event("progress").json_data(progress),
            Update::Ended(job) => Event::default().event("end").json_data(job),
        };
        Some((event.map_err(|e| std::io::Error::other(e.to_string())), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SinceQuery {
    since: Option<String>,
}

pub async fn audit(State(app): State<Arc<App>>, Query(query): Query<SinceQuery>) -> Result<Response, ApiError> {
    let since = since(query.since.as_deref())?;
    let rows = stored(&app, move |store| Ok(store.audit_rows(since)?)).await?;
    Ok(Json(lifeboat_daemon::output::Audit { rows: &rows }).into_response())
}

pub async fn tokens(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let tokens = stored(&app, |store| Ok(store.tokens()?)).await?;
    Ok(Json(lifeboat_daemon::output::Tokens { tokens: &tokens }).into_response())
}

pub async fn users(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let users = stored(&app, |store| Ok(store.users()?)).await?;
    Ok(Json(lifeboat_daemon::output::Users { users: &users }).into_response())
}

pub async fn revoke_token(State(app): State<Arc<App>>, who: Who, Path(name): Path<String>) -> Result<Response, ApiError> {
    let event = who.event("", None);
    let revoked = name.clone();
    stored(&app, move |store| match store.revoke_token(&revoked, &event) {
        Ok(()) => Ok(()),
        Err(err) if err.kind == lifeboat_daemon::DaemonErrorKind::Access => {
            Err(ApiError::not_found(format!("there is no token named `{revoked}`"), "GET /api/v1/tokens lists them"))
        }
        Err(err) => Err(err.into()),
    })
    .await?;
    Ok(Json(lifeboat_daemon::output::AccessChange { action: "token.revoke", name: &name }).into_response())
}

/// The moment `age` (`7d`) ago.
fn since(age: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    age.map(lifeboat_engine::ago).transpose().map_err(|e| ApiError::bad_request(e.to_string(), "write it like 36h, 7d or 2w"))
}

/// `POST /api/v1/backups`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    pub database: String,
    /// Why: kept with the backup and in the job log.
    pub reason: Option<String>,
    /// Default `manual`.
    pub class: Option<String>,
}

/// `POST /api/admin/backup`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultBackupBody {
    pub reason: Option<String>,
}

/// A job taken into the daemon's queue; it appears in `GET /api/v1/jobs` once it starts.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Queued {
    pub queued: QueuedJob,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueuedJob {
    /// `backup` or `drill`.
    pub kind: &'static str,
    pub database: String,
    /// A backup's class.
    pub class: Option<String>,
    pub reason: Option<String>,
    /// The token it runs for.
    pub actor: String,
}

pub async fn backup(State(app): State<Arc<App>>, who: Who, Body(body): Body<BackupBody>) -> Result<Response, ApiError> {
    queue_backup(&app, &who, body).await
}

pub async fn default_backup(State(app): State<Arc<App>>, who: Who, Body(body): Body<DefaultBackupBody>) -> Result<Response, ApiError> {
    let database = match (&app.api.default_database, app.config.databases.as_slice()) {
        (Some(name), _) => name.clone(),
        (None, [only]) => only.name.clone(),
        (None, _) => {
            return Err(ApiError::bad_request(
                "there are several databases and no [api] default_database",
                "name one: POST /api/v1/backups {\"database\": NAME, \"reason\": …}, or set [api] default_database",
            ));
        }
    };
    queue_backup(&app, &who, BackupBody { database, reason: body.reason, class: None }).await
}

async fn queue_backup(app: &Arc<App>, who: &Who, body: BackupBody) -> Result<Response, ApiError> {
    let class = body.class.unwrap_or_else(|| "manual".into());
    lifeboat_engine::validate_class(&class)
        .map_err(|e| ApiError::bad_request(e.to_string(), "use manual, pre-deployment, hourly, daily, …"))?;
    queue(app, who, body.database, Asked::Backup { class }, body.reason).await
}

/// `POST /api/v1/drills`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillBody {
    pub database: String,
}

pub async fn drill(State(app): State<Arc<App>>, who: Who, Body(body): Body<DrillBody>) -> Result<Response, ApiError> {
    queue(&app, &who, body.database, Asked::Drill, None).await
}

/// Puts what `who` asked for on `database` into the daemon's queue, audited (and audited when
/// refused for a database outside the caller's).
async fn queue(app: &Arc<App>, who: &Who, database: String, asked: Asked, reason: Option<String>) -> Result<Response, ApiError> {
    if app.config.database(&database).is_none() {
        return Err(ApiError::not_found(format!("there is no database `{database}`"), "GET /api/v1/databases lists them"));
    }
    let (kind, class) = match &asked {
        Asked::Backup { class } => ("backup", Some(class.clone())),
        Asked::Drill => ("drill", None),
    };
    let action = format!("{kind}.start");
    if !who.principal.may(Role::Operator, Some(&database)) {
        let refused = who.event(&action, Some(&database));
        let event = AuditEvent { outcome: "denied".into(), detail: Some("outside the caller's databases".into()), ..refused };
        crate::audit(app, event).await?;
        return Err(ApiError::forbidden(Role::Operator));
    }
    crate::audit(app, AuditEvent { detail: reason.clone(), ..who.event(&action, Some(&database)) }).await?;
    let submission = Submission { database: database.clone(), asked, reason: reason.clone(), actor: who.principal.name.clone() };
    if !app.submit.submit(submission) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the daemon is stopping", "try again once it is back"));
    }
    let queued = QueuedJob { kind, database, class, reason, actor: who.principal.name.clone() };
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })).into_response())
}

/// A JSON body, whatever `Content-Type` says: `curl -d '{"reason": …}'` sends one labelled as
/// a form, and the seed's own call must work as written. Too large is 413, not JSON is 400.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection: BytesRejection| {
            let status = rejection.status();
            let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
            ApiError::new(status, kind, rejection.body_text(), "send a JSON object of a few fields")
        })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::bad_request(
                format!("the body is not the JSON this route takes: {e}"),
                "GET /api/v1/openapi.json documents each route's body",
            )
        })
    }
}
