//! Every route of the API, one row each: method, path, who may use it, what it answers. The
//! router is built from this table alone (`router`), each route behind the guard of the role
//! it declares; the OpenAPI document is written from it too (`openapi.rs`). A route cannot be
//! served without a row, and a row cannot be written without a permission.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{MethodRouter, get, post},
};
use lifeboat_daemon::access::Role;
use schemars::{Schema, SchemaGenerator};

use crate::{App, auth, handlers};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Anyone who reaches the listener: only what tells how to use the API.
    Anyone,
    /// A caller holding this role or a higher one.
    Role(Role),
    /// Prometheus with the `[metrics] token_file` token, or a caller holding `viewer`.
    Scraper,
}

/// One route.
pub struct Route {
    pub method: &'static str,
    /// As axum and OpenAPI both write it: `/api/v1/jobs/{id}`.
    pub path: &'static str,
    pub permission: Permission,
    pub summary: &'static str,
    /// The status of a success.
    pub status: u16,
    /// What a success carries: `application/json`, or `text/event-stream` (each event's data
    /// is `response`).
    pub content: &'static str,
    pub response: fn(&mut SchemaGenerator) -> Schema,
    /// The JSON body it takes, if any.
    pub body: Option<fn(&mut SchemaGenerator) -> Schema>,
    /// Its query parameters: name and meaning.
    pub query: &'static [(&'static str, &'static str)],
    pub handler: fn() -> MethodRouter<Arc<App>>,
}

const JSON: &str = "application/json";
const VIEWER: Permission = Permission::Role(Role::Viewer);
const OPERATOR: Permission = Permission::Role(Role::Operator);
const ADMIN: Permission = Permission::Role(Role::Admin);

pub static ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/v1/openapi.json",
        permission: Permission::Anyone,
        summary: "This document",
        status: 200,
        content: JSON,
        response: |_| schemars::json_schema!({ "type": "object" }),
        body: None,
        query: &[],
        handler: || get(handlers::openapi),
    },
    Route {
        method: "GET",
        path: "/metrics",
        permission: Permission::Scraper,
        summary: "Prometheus metrics (OpenMetrics text), as `[metrics] listen` serves them; for the `[metrics] token_file` token or a viewer",
        status: 200,
        content: lifeboat_daemon::metrics::CONTENT_TYPE,
        response: |_| schemars::json_schema!({ "type": "string" }),
        body: None,
        query: &[],
        handler: || get(handlers::metrics),
    },
    Route {
        method: "GET",
        path: "/api/v1/health",
        permission: VIEWER,
        summary: "Health of every database the caller may see, as the daemon last evaluated it (`lifeboat health --json`)",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::HealthReport>(),
        body: None,
        query: &[],
        handler: || get(handlers::health),
    },
    Route {
        method: "GET",
        path: "/api/v1/databases",
        permission: VIEWER,
        summary: "The configured databases the caller may see, with their schedules",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<handlers::Databases>(),
        body: None,
        query: &[],
        handler: || get(handlers::databases),
    },
    Route {
        method: "GET",
        path: "/api/v1/snapshots",
        permission: VIEWER,
        summary: "The backups in the repository, oldest first (`lifeboat snapshots --json`), of the caller's databases",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::output::Snapshots<'static>>(),
        body: None,
        query: &[("database", "only this database's backups"), ("class", "only backups carrying this class: manual, daily, …")],
        handler: || get(handlers::snapshots),
    },
    Route {
        method: "GET",
        path: "/api/v1/snapshots/{id}",
        permission: VIEWER,
        summary: "One backup's report: tables, rows, sizes, schema (`lifeboat show --json`, without sample rows)",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_engine::ShowReport>(),
        body: None,
        query: &[],
        handler: || get(handlers::snapshot),
    },
    Route {
        method: "GET",
        path: "/api/v1/stats",
        permission: VIEWER,
        summary: "Totals per database: backups, automated vs manual, last good backup (`lifeboat stats --json`)",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::StatsReport>(),
        body: None,
        query: &[],
        handler: || get(handlers::stats),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs",
        permission: VIEWER,
        summary: "Jobs of the job log, newest first",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<handlers::Jobs>(),
        body: None,
        query: &[
            ("database", "only this database's jobs"),
            ("status", "only jobs that ended so: ok, failed, interrupted, skipped, running"),
            ("since", "only jobs started this recently: 36h, 7d, 2w"),
            ("last", "at most this many (default 100, at most 1000)"),
        ],
        handler: || get(handlers::jobs),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs/{id}",
        permission: VIEWER,
        summary: "One job",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::JobRecord>(),
        body: None,
        query: &[],
        handler: || get(handlers::job),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs/{id}/events",
        permission: VIEWER,
        summary: "A job's progress as server-sent events: `progress` (bytes so far, the total when known) while it runs, then `end` with the job as the log has it",
        status: 200,
        content: "text/event-stream",
        response: |g| g.subschema_for::<lifeboat_daemon::runner::ProgressEvent>(),
        body: None,
        query: &[],
        handler: || get(handlers::job_events),
    },
    Route {
        method: "POST",
        path: "/api/v1/backups",
        permission: OPERATOR,
        summary: "Queue a backup of a database (class `manual` unless given), logged with its reason, trigger `api` and the caller as actor",
        status: 202,
        content: JSON,
        response: |g| g.subschema_for::<handlers::Queued>(),
        body: Some(|g| g.subschema_for::<handlers::BackupBody>()),
        query: &[],
        handler: || post(handlers::backup),
    },
    Route {
        method: "POST",
        path: "/api/v1/drills",
        permission: OPERATOR,
        summary: "Queue a restore drill of a database's newest backup, logged with the caller as actor",
        status: 202,
        content: JSON,
        response: |g| g.subschema_for::<handlers::Queued>(),
        body: Some(|g| g.subschema_for::<handlers::DrillBody>()),
        query: &[],
        handler: || post(handlers::drill),
    },
    Route {
        method: "POST",
        path: "/api/admin/backup",
        permission: OPERATOR,
        summary: "Queue a backup of `[api] default_database` (or the only database): `{\"reason\": …}`",
        status: 202,
        content: JSON,
        response: |g| g.subschema_for::<handlers::Queued>(),
        body: Some(|g| g.subschema_for::<handlers::DefaultBackupBody>()),
        query: &[],
        handler: || post(handlers::default_backup),
    },
    Route {
        method: "GET",
        path: "/api/v1/audit",
        permission: ADMIN,
        summary: "The audit log, oldest first (`lifeboat audit --json`)",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::output::Audit<'static>>(),
        body: None,
        query: &[("since", "only what happened this recently: 36h, 7d, 2w")],
        handler: || get(handlers::audit),
    },
    Route {
        method: "GET",
        path: "/api/v1/tokens",
        permission: ADMIN,
        summary: "The API tokens (`lifeboat token list --json`): names, roles, scopes, never a secret",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::output::Tokens<'static>>(),
        body: None,
        query: &[],
        handler: || get(handlers::tokens),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/tokens/{name}",
        permission: ADMIN,
        summary: "Revoke a token at once (`lifeboat token revoke`), audited",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::output::AccessChange<'static>>(),
        body: None,
        query: &[],
        handler: || axum::routing::delete(handlers::revoke_token),
    },
    Route {
        method: "GET",
        path: "/api/v1/users",
        permission: ADMIN,
        summary: "The dashboard users (`lifeboat user list --json`)",
        status: 200,
        content: JSON,
        response: |g| g.subschema_for::<lifeboat_daemon::output::Users<'static>>(),
        body: None,
        query: &[],
        handler: || get(handlers::users),
    },
];

/// The router: every route of [`ROUTES`] behind the guard of its permission; anything else is
/// 404. Requests are identified (token, id) first, bodies are limited to `body_limit` bytes
/// and answers to `timeout`.
pub fn router(app: Arc<App>, body_limit: usize, timeout: Duration) -> Router {
    let mut router = Router::new();
    for route in ROUTES {
        let handler = (route.handler)();
        let handler = match route.permission {
            Permission::Anyone => handler,
            Permission::Role(role) => handler.route_layer(middleware::from_fn_with_state((app.clone(), role), auth::require)),
            Permission::Scraper => handler.route_layer(middleware::from_fn_with_state((app.clone(), Role::Viewer), auth::require_scraper)),
        };
        router = router.route(route.path, handler);
    }
    router
        .fallback(handlers::not_found)
        .with_state(app.clone())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |request, next| handlers::within(timeout, request, next)))
        .layer(middleware::from_fn_with_state(app, auth::identify))
}
