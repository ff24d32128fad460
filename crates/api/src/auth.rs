//! Who a request is, and whether it may go on: a layer that reads the bearer token for every
//! request (and gives each request an id), and a guard on each route for the role it declared.
//! A route that declared no role cannot be built (see `routes.rs`), so nothing is open by
//! omission.

use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use lifeboat_daemon::access::{AuditEvent, Principal, Role};

use crate::{App, error::ApiError};

/// The request carried the `[metrics] token_file` token: it may scrape `/metrics`, nothing else.
#[derive(Debug, Clone)]
pub struct Scraper;

/// Who sent the request, when its token proved it.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// Each request's id, in the `x-request-id` response header and the audit log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct Source(pub String);

/// Reads the token (if any) and names the request. A token that does not prove who it
/// claims is refused here, whatever the route.
pub async fn identify(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let id = RequestId(hex::encode(crate::random::<8>()));
    let source = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map_or("unknown".into(), |c| c.0.ip().to_string());
    request.extensions_mut().insert(Source(source));
    let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(value) = bearer {
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim).map(str::to_string) else {
            return with_id(ApiError::unauthorized().into_response(), &id);
        };
        if app.metrics_token.as_deref().is_some_and(|expected| constant_time_eq::constant_time_eq(expected.as_bytes(), token.as_bytes())) {
            request.extensions_mut().insert(Scraper);
            request.extensions_mut().insert(id.clone());
            return with_id(next.run(request).await, &id);
        }
        match crate::stored(&app, move |store| Ok(store.authenticate_token(&token)?)).await {
            Ok(principal) => {
                request.extensions_mut().insert(Caller(principal));
            }
            Err(err) => return with_id(err.into_response(), &id),
        }
    }
    request.extensions_mut().insert(id.clone());
    with_id(next.run(request).await, &id)
}

fn with_id(mut response: Response, id: &RequestId) -> Response {
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Lets the request through when its caller holds `role`: 401 without credentials, 403 with
/// a role below it. A refused request that would have changed something is audited.
pub async fn require(State((app, role)): State<(Arc<App>, Role)>, request: Request, next: Next) -> Response {
    let caller = request.extensions().get::<Caller>().cloned();
    match caller {
        None => ApiError::unauthorized().into_response(),
        Some(Caller(principal)) if principal.role < role => {
            if request.method() != Method::GET {
                let event = AuditEvent {
                    action: format!("{} {}", request.method(), request.uri().path()),
                    outcome: "denied".into(),
                    detail: Some(format!("needs {}", role.as_str())),
                    ..event_of(&request, &principal)
                };
                let _ = crate::audit(&app, event).await;
            }
            ApiError::forbidden(role).into_response()
        }
        Some(_) => next.run(request).await,
    }
}

/// `/metrics`: the metrics token, or a viewer.
pub async fn require_scraper(state: State<(Arc<App>, Role)>, request: Request, next: Next) -> Response {
    if request.extensions().get::<Scraper>().is_some() {
        return next.run(request).await;
    }
    require(state, request, next).await
}

/// An audit event of `principal`'s request, its id and address filled in.
fn event_of(request: &Request, principal: &Principal) -> AuditEvent {
    Who::of(request.extensions(), principal.clone()).event("", None)
}

/// The caller of a route that needs one, with what the audit log keeps of its request.
pub struct Who {
    pub principal: Principal,
    request_id: Option<String>,
    source: String,
}

impl Who {
    fn of(extensions: &axum::http::Extensions, principal: Principal) -> Self {
        Self {
            principal,
            request_id: extensions.get::<RequestId>().map(|r| r.0.clone()),
            source: extensions.get::<Source>().map_or(String::new(), |s| s.0.clone()),
        }
    }

    /// An audit event of this request: `action` on `target`, ok.
    pub fn event(&self, action: &str, target: Option<&str>) -> AuditEvent {
        AuditEvent {
            actor: self.principal.name.clone(),
            role: Some(self.principal.role),
            source: self.source.clone(),
            action: action.into(),
            target: target.map(str::to_string),
            outcome: "ok".into(),
            request_id: self.request_id.clone(),
            detail: None,
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        let Caller(principal) = parts.extensions.get::<Caller>().cloned().ok_or_else(ApiError::unauthorized)?;
        Ok(Self::of(&parts.extensions, principal))
    }
}
