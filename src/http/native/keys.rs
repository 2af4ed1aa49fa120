//! `/v1/environments/{envId}/keys…`: an environment's API keys, managed by its admin
//! keys and by operator keys. A key's token is shown once, in the answer that made it;
//! afterwards a key shows a short prefix of it, never the token or its hash.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Credential, Scope};
use crate::error::Error;
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::json_body;
use crate::http::native::views::iso_millis;
use crate::http::principal::Caller;
use crate::http::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyBody {
    pub name: Option<String>,
    /// Any of `images:read`, `images:write`, `admin`; only scopes the caller holds.
    pub scopes: Vec<String>,
    /// RFC 3339; the key is refused from then on.
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub scopes: Vec<&'static str>,
    /// The start of the key's token, to tell keys apart; not a secret.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// When the key was last accepted, to the minute.
    pub last_used_at: Option<String>,
    /// Only in the answer that made the key: the whole token, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

pub fn key_view(credential: &Credential, token: Option<String>) -> KeyView {
    KeyView {
        id: credential.id.to_string(),
        name: credential.name.clone(),
        scopes: credential.scopes.iter().map(|s| s.as_str()).collect(),
        prefix: credential.token_prefix(),
        created_at: iso_millis(credential.created_at),
        expires_at: credential.expires_at.map(iso_millis),
        last_used_at: credential.last_used_at.map(to_the_minute),
        token,
    }
}

fn to_the_minute(at: DateTime<Utc>) -> String {
    let minute = at
        .with_second(0)
        .and_then(|at| at.with_nanosecond(0))
        .unwrap_or(at);
    minute.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Make a key; its token is in this answer only.
#[utoipa::path(post, path = "/v1/environments/{envId}/keys", tag = "keys",
    operation_id = "create_key",
    params(("envId" = Uuid, Path, description = "Environment id")),
    request_body = KeyBody,
    responses(
        (status = 201, description = "The key, with its token (shown once)", body = KeyView),
        (status = 400, description = "A malformed body, an unknown scope, a past expiry", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key, or a scope the caller lacks", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    body: Result<Json<KeyBody>, JsonRejection>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let body = json_body(body)?;
    let scopes = Scope::parse_list(&body.scopes.join(","))?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| Error::InvalidInput {
                    target: "expiresAt",
                    message: "expiresAt must be an RFC 3339 time".into(),
                })
        })
        .transpose()?;
    let created = state
        .service
        .create_key(&principal, env, body.name, scopes, expires_at)
        .await?;
    let view = key_view(&created.credential, Some(created.token));
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// List an environment's keys (no secrets).
#[utoipa::path(get, path = "/v1/environments/{envId}/keys", tag = "keys",
    operation_id = "list_keys",
    params(("envId" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The keys, oldest first", body = KeyList),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<KeyList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let keys = state.service.keys(&principal, env).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(|key| key_view(key, None)).collect(),
    }))
}

/// Read a key (no secret).
#[utoipa::path(get, path = "/v1/environments/{envId}/keys/{keyId}", tag = "keys",
    operation_id = "get_key",
    params(("envId" = Uuid, Path, description = "Environment id"), ("keyId" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such key", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_key(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, key)): Path<(String, String)>,
) -> Result<Json<KeyView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let key = parse_id(&key, "key")?;
    let credential = state.service.key(&principal, env, key).await?;
    Ok(Json(key_view(&credential, None)))
}

/// Revoke a key: every instance refuses it within a second, and its sessions end.
#[utoipa::path(delete, path = "/v1/environments/{envId}/keys/{keyId}", tag = "keys",
    operation_id = "revoke_key",
    params(("envId" = Uuid, Path, description = "Environment id"), ("keyId" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such key", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, key)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let env = parse_id(&env, "environment")?;
    let key = parse_id(&key, "key")?;
    state.service.revoke_key(&principal, Some(env), key).await?;
    Ok(StatusCode::NO_CONTENT)
}
