//! Cross-origin requests (CORS), with tower-http's `CorsLayer`: preflights are answered
//! for the native API, the upload URL and sessions, and `Access-Control-Allow-Origin`
//! echoes an origin only when the environment the request is for allows it (the service
//! decides: `Service::origin_allowed`). Which environment that is comes from the path
//! (`/v1/environments/{envId}/…`), the upload token in the query (`/v1/uploads`), or, for
//! routes about no one environment (`/v1/environments`, `/v1/sessions…`), the request's
//! credential (their preflights, which carry none: any environment's).
//!
//! Credentials are allowed (a browser may send its session cookie), so an origin is
//! always echoed exactly, never `*`. Image hrefs get no grant here: they are served to
//! every origin as plain resources, with their own `Cross-Origin-Resource-Policy`.

use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use uuid::Uuid;

use crate::http::principal::session_cookie;
use crate::http::state::AppState;
use crate::service::OriginScope;

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer, deciding each origin through `state`'s service.
pub fn layer(state: &AppState) -> CorsLayer {
    let service = state.service.clone();
    let predicate = move |origin: HeaderValue, parts: &Parts| {
        let service = service.clone();
        let scope = scope_of(parts);
        async move {
            match (origin.to_str(), scope) {
                (Ok(origin), Some(scope)) => service.origin_allowed(origin, scope).await,
                _ => false,
            }
        }
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(predicate))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("x-csrf-token"),
        ])
        .expose_headers([header::LOCATION, HeaderName::from_static("x-request-id")])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// What a request is for, as far as CORS goes; None for routes that grant no origin.
fn scope_of(parts: &Parts) -> Option<OriginScope> {
    let path = parts.uri.path();
    if path == "/v1/uploads" {
        let token = parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
        })?;
        return Some(OriginScope::UploadToken(token));
    }
    if path == "/v1/environments" || path == "/v1/sessions" || path.starts_with("/v1/sessions/") {
        if parts.method == Method::OPTIONS {
            return Some(OriginScope::AnyEnvironment);
        }
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        return Some(OriginScope::Credential {
            authorization,
            session_cookie: session_cookie(&parts.headers),
        });
    }
    let rest = path.strip_prefix("/v1/environments/")?;
    let id = rest.split('/').next()?;
    Uuid::parse_str(id).ok().map(OriginScope::Environment)
}
