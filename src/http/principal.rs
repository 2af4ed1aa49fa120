//! Who is calling: the `Authorization` header (Bearer, or Basic with the key as
//! password), or a browser session cookie made by `POST /v1/sessions`. A session is
//! accepted for a state-changing request only with its CSRF token in `X-CSRF-Token`
//! (Akana's `X-Csrf-Token_{name}` header and `AtmoAuthToken_{name}` cookie names are
//! accepted too). Credential values are never logged (see the sensitive-headers layer).
//!
//! [`Caller`] is the one extractor every dialect's handlers take their caller from, so
//! that what a dialect accepts is decided here and not again in each of its modules. What
//! differs between dialects is asked of the dialect: a key in the query string
//! ([`Dialect::query_credential`], QuestionPro's `apiKey`, which wins over the headers).
//! A session cookie needs its CSRF token on every state-changing request, whatever the
//! dialect.
//! A request without a valid credential is refused in the dialect's own shape.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use super::dialect::{Dialect, DialectError};
use super::error::Native;
use super::state::AppState;
use crate::auth::token_from_authorization;
use crate::domain::Principal;
use crate::error::{Error, Result};
use crate::service::CreatedSession;

/// The cookie `POST /v1/sessions` sets.
pub const SESSION_COOKIE: &str = "imagestore_session";

/// The `Set-Cookie` value that carries a new session: HttpOnly, SameSite=Strict, and
/// Secure when the service is published over https.
pub(crate) fn session_set_cookie(state: &AppState, session: &CreatedSession) -> String {
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        session.cookie_token
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub(crate) fn expired_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session token among the request's cookies, under our name or Akana's.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE || name.starts_with("AtmoAuthToken_"))
        .map(|(_, value)| value.trim_matches('"').to_string())
}

/// The CSRF token a request presents, under our header name or Akana's.
pub(crate) fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .iter()
        .find(|(name, _)| {
            let name = name.as_str();
            name == "x-csrf-token" || name.starts_with("x-csrf-token_")
        })
        .and_then(|(_, value)| value.to_str().ok())
}

/// Resolves the caller of a request, for any dialect.
pub async fn principal_from_request(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(token_from_authorization)
            .ok_or(Error::Unauthenticated)?;
        return state.service.authenticate(&token).await;
    }
    let cookie = session_cookie(headers).ok_or(Error::Unauthenticated)?;
    let state_changing = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    state
        .service
        .session_principal(&cookie, csrf_header(headers), state_changing)
        .await
}

/// The caller of a request, and the dialect `D` the request is answered in. A request
/// without a valid credential is refused in `D`'s shape; one whose query string cannot be
/// read (QuestionPro's `apiKey` given twice) is refused as axum refuses a bad query.
pub struct Caller<D = Native>(pub Principal, pub D);

impl<D: Dialect + Send> FromRequestParts<AppState> for Caller<D> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let in_query = D::query_credential(&parts.uri).map_err(IntoResponse::into_response)?;
        let dialect = D::of_request(&parts.uri, &parts.headers);
        // A session cookie on a state-changing request must bring its CSRF token, in
        // every dialect: the cookie alone is what a forged cross-site form would send.
        let method = &parts.method;
        let principal = match in_query {
            Some(token) => state.service.authenticate(&token).await,
            None => principal_from_request(state, method, &parts.headers).await,
        };
        match principal {
            Ok(principal) => Ok(Caller(principal, dialect)),
            Err(error) => Err(DialectError::new(error, dialect).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_and_csrf_headers_under_either_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; AtmoAuthToken_acme=abc; b=2"),
        );
        headers.insert("x-csrf-token_acme", HeaderValue::from_static("t"));
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(csrf_header(&headers), Some("t"));
        let mut ours = HeaderMap::new();
        ours.insert(COOKIE, HeaderValue::from_static("imagestore_session=xyz"));
        assert_eq!(session_cookie(&ours).as_deref(), Some("xyz"));
        assert_eq!(csrf_header(&ours), None);
    }
}
