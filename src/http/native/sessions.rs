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
use crate::http::principal::SESSION_COOKIE;
use crate::http::state::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Send it back in `X-CSRF-Token` with every state-changing request.
    pub csrf_token: String,
    pub expires_at: String,
    pub environment_id: Uuid,
}

/// Create a browser session from an API key (Bearer or Basic; a session cannot make one).
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
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        session.cookie_token
    );
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
