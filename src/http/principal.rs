//! Who is calling: the `Authorization` header (Bearer, or Basic with the key as
//! password) resolved to a [`Principal`] through the service. The header's value is never
//! logged (see the sensitive-headers layer in `http::mod`).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::NativeError;
use crate::auth::token_from_authorization;
use crate::domain::Principal;
use crate::error::{Error, Result};

/// Resolves the `Authorization` header of a request, for any dialect.
pub async fn principal_from_headers(state: &AppState, headers: &HeaderMap) -> Result<Principal> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(token_from_authorization)
        .ok_or(Error::Unauthenticated)?;
    state.service.authenticate(&token).await
}

/// Extractor for native routes: the caller, or a PingOne-shaped 401.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = NativeError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(principal_from_headers(state, &parts.headers).await?))
    }
}
