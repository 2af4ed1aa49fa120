//! `POST /v1/sessions`: turns a credential into a browser session, for pages that upload
//! from the browser without holding an API key in script. The session rides in an
//! HttpOnly, SameSite=Strict cookie; state-changing requests made with it must echo the
//! CSRF token this answer returns, in `X-CSRF-Token`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::token_from_authorization;
use crate::error::Error;
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::principal::{
    csrf_header, expired_session_cookie, session_cookie, session_set_cookie,
};
use crate::http::state::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Send it back in `X-CSRF-Token` with every state-changing request.
    pub csrf_token: String,
    pub expires_at: String,
    /// The environment the session sees; absent for an operator key's session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<Uuid>,
}

/// Create a browser session from an API key (Bearer or Basic; a session cannot make one):
/// an environment key's session sees its environment, an operator key's every one.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions",
    responses((status = 201, description = "The session, its cookie set", body = SessionView,
            headers(("Set-Cookie" = String, description = "The HttpOnly session cookie"))),
        (status = 401, description = "No valid API key in Authorization", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, NativeError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token_from_authorization)
        .ok_or(Error::Unauthenticated)?;
    let principal = state.service.authenticate(&token).await?;
    let session = state.service.create_session(&principal).await?;
    let cookie = session_set_cookie(&state, &session);
    let view = SessionView {
        csrf_token: session.csrf_token,
        expires_at: crate::http::native::views::iso_millis(session.expires_at),
        environment_id: principal.environment_id,
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentSessionView {
    /// The environment the session sees; absent for an operator key's session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<Uuid>,
    pub scopes: Vec<&'static str>,
    pub expires_at: String,
}

/// Describe the session the cookie carries.
#[utoipa::path(get, path = "/v1/sessions/current", tag = "sessions",
    operation_id = "get_current_session",
    responses((status = 200, description = "The session", body = CurrentSessionView),
        (status = 401, description = "No live session cookie", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)))]
pub async fn get_current_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, NativeError> {
    let cookie = session_cookie(&headers).ok_or(Error::Unauthenticated)?;
    let session = state.service.current_session(&cookie).await?;
    let view = CurrentSessionView {
        environment_id: session.principal.environment_id,
        scopes: session
            .principal
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect(),
        expires_at: crate::http::native::views::iso_millis(session.expires_at),
    };
    let mut response = Json(view).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// End the session the cookie carries, on every instance (the cookie and its CSRF token in
/// `X-CSRF-Token`, as for every state-changing request made with a session).
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions",
    operation_id = "end_current_session",
    responses((status = 204, description = "Ended; the cookie is cleared",
            headers(("Set-Cookie" = String, description = "The session cookie, expired"))),
        (status = 401, description = "No live session cookie, or no CSRF token", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)))]
pub async fn end_current_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, NativeError> {
    let cookie = session_cookie(&headers).ok_or(Error::Unauthenticated)?;
    let principal = state
        .service
        .session_principal(&cookie, csrf_header(&headers), true)
        .await?;
    state.service.end_session(&principal, &cookie).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&expired_session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
