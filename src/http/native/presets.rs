//! Native endpoints for renditions: presets (`/v1/environments/{envId}/presets…`), signed
//! rendition URLs (`…/signed-urls`) and the secrets that sign them (`…/signing-secrets…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::rendition_params::fit_name;
use crate::domain::{Preset, SigningSecret};
use crate::error::Error;
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::json_body;
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::transform_query;
use crate::service::PresetInput;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresetView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub fit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    pub quality: u8,
    pub eager: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn preset_view(preset: &Preset) -> PresetView {
    PresetView {
        name: preset.name.clone(),
        width: preset.width,
        height: preset.height,
        fit: fit_name(preset.fit),
        format: preset.format.map(|f| f.as_str()),
        quality: preset.quality,
        eager: preset.eager,
        created_at: crate::http::native::views::iso_millis(preset.created_at),
        updated_at: crate::http::native::views::iso_millis(preset.updated_at),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PresetList {
    pub presets: Vec<PresetView>,
}

fn env_id(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound("environment"))
}

/// Create or replace a preset.
#[utoipa::path(put, path = "/v1/environments/{envId}/presets/{name}", tag = "renditions",
    params(("envId" = Uuid, Path), ("name" = String, Path, description = "Letters, digits, '-'")),
    request_body = PresetInput,
    responses((status = 200, description = "The preset as stored", body = PresetView),
        (status = 400, description = "A malformed body or a bad value", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody), (status = 403, description = "The key lacks images:write", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_preset(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, name)): Path<(String, String)>,
    body: Result<Json<PresetInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PresetView>, NativeError> {
    let env = env_id(&env)?;
    let input = json_body(body)?;
    let preset = state
        .service
        .put_preset(&principal, env, &name, input)
        .await?;
    Ok(Json(preset_view(&preset)))
}

/// Read a preset.
#[utoipa::path(get, path = "/v1/environments/{envId}/presets/{name}", tag = "renditions",
    params(("envId" = Uuid, Path), ("name" = String, Path)),
    responses((status = 200, description = "The preset", body = PresetView), (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody), (status = 404, description = "No such preset", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_preset(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, name)): Path<(String, String)>,
) -> Result<Json<PresetView>, NativeError> {
    let preset = state
        .service
        .preset(&principal, env_id(&env)?, &name)
        .await?;
    Ok(Json(preset_view(&preset)))
}

/// Delete a preset (its stored variants stay until their images go).
#[utoipa::path(delete, path = "/v1/environments/{envId}/presets/{name}", tag = "renditions",
    params(("envId" = Uuid, Path), ("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:write", body = NativeErrorBody), (status = 404, description = "No such preset", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_preset(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, name)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    state
        .service
        .delete_preset(&principal, env_id(&env)?, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an environment's presets.
#[utoipa::path(get, path = "/v1/environments/{envId}/presets", tag = "renditions",
    params(("envId" = Uuid, Path)),
    responses((status = 200, description = "The environment's presets", body = PresetList), (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody), (status = 404, description = "No such environment", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_presets(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<PresetList>, NativeError> {
    let presets = state.service.presets(&principal, env_id(&env)?).await?;
    Ok(Json(PresetList {
        presets: presets.iter().map(preset_view).collect(),
    }))
}

/// What to sign: an image and the rendition parameters an href would carry.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedUrlRequest {
    pub image_id: Uuid,
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub fit: Option<String>,
    pub crop: Option<String>,
    pub format: Option<String>,
    pub q: Option<u8>,
    pub dpr: Option<f64>,
    pub animated: Option<bool>,
    pub upscale: Option<bool>,
    pub bg: Option<String>,
    /// Seconds until the URL stops working; absent: it does not expire.
    pub expires_in: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct SignedUrl {
    pub href: String,
}

/// Sign a rendition URL that anyone may then fetch.
#[utoipa::path(post, path = "/v1/environments/{envId}/signed-urls", tag = "renditions",
    params(("envId" = Uuid, Path)),
    request_body = SignedUrlRequest,
    responses((status = 200, description = "The signed href", body = SignedUrl),
        (status = 400, description = "A malformed body, a bad parameter or expiry", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody), (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such environment or image", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn sign_url(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    body: Result<Json<SignedUrlRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SignedUrl>, NativeError> {
    let env = env_id(&env)?;
    let body = json_body(body)?;
    // Reuse the query parser so that the body's parameters mean exactly what an href's do.
    let parsed = transform_query::parse(Some(&query_of(&body)))?;
    let path = state
        .service
        .sign_rendition(
            &principal,
            env,
            body.image_id,
            &parsed.transform,
            body.expires_in,
        )
        .await?;
    Ok(Json(SignedUrl {
        href: format!("{}{path}", state.public_url),
    }))
}

/// The signed-URL request's parameters as the query string an href would carry.
fn query_of(body: &SignedUrlRequest) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let numbers = [
        ("w", body.w.map(u64::from)),
        ("h", body.h.map(u64::from)),
        ("q", body.q.map(u64::from)),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            query.append_pair(key, &value.to_string());
        }
    }
    let texts = [
        ("fit", &body.fit),
        ("crop", &body.crop),
        ("format", &body.format),
        ("bg", &body.bg),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    if let Some(dpr) = body.dpr {
        query.append_pair("dpr", &dpr.to_string());
    }
    for (key, value) in [("animated", body.animated), ("upscale", body.upscale)] {
        if let Some(value) = value {
            query.append_pair(key, &value.to_string());
        }
    }
    query.finish()
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretView {
    pub id: Uuid,
    /// Shown only when the secret is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretList {
    pub signing_secrets: Vec<SigningSecretView>,
}

fn secret_view(secret: &SigningSecret, reveal: bool) -> SigningSecretView {
    SigningSecretView {
        id: secret.id,
        secret: reveal.then(|| secret.secret.clone()),
        created_at: crate::http::native::views::iso_millis(secret.created_at),
    }
}

/// Add a signing secret (new URLs are signed with the newest; older ones still verify).
#[utoipa::path(post, path = "/v1/environments/{envId}/signing-secrets", tag = "renditions",
    params(("envId" = Uuid, Path)),
    responses((status = 201, description = "The new secret, its value shown this once", body = SigningSecretView),
        (status = 401, description = "No valid API key", body = NativeErrorBody), (status = 403, description = "The key lacks admin", body = NativeErrorBody), (status = 404, description = "No such environment", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_signing_secret(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<(StatusCode, Json<SigningSecretView>), NativeError> {
    let secret = state
        .service
        .create_signing_secret(&principal, env_id(&env)?)
        .await?;
    Ok((StatusCode::CREATED, Json(secret_view(&secret, true))))
}

/// List signing secrets, newest first (without their values).
#[utoipa::path(get, path = "/v1/environments/{envId}/signing-secrets", tag = "renditions",
    params(("envId" = Uuid, Path)),
    responses((status = 200, description = "The secrets, without their values", body = SigningSecretList),
        (status = 401, description = "No valid API key", body = NativeErrorBody), (status = 403, description = "The key lacks admin", body = NativeErrorBody), (status = 404, description = "No such environment", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_signing_secrets(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<SigningSecretList>, NativeError> {
    let secrets = state
        .service
        .signing_secrets(&principal, env_id(&env)?)
        .await?;
    Ok(Json(SigningSecretList {
        signing_secrets: secrets.iter().map(|s| secret_view(s, false)).collect(),
    }))
}

/// Retire a signing secret: URLs it signed stop working.
#[utoipa::path(delete, path = "/v1/environments/{envId}/signing-secrets/{secretId}", tag = "renditions",
    params(("envId" = Uuid, Path), ("secretId" = Uuid, Path)),
    responses((status = 204, description = "Retired"), (status = 401, description = "No valid API key", body = NativeErrorBody), (status = 403, description = "The key lacks admin", body = NativeErrorBody),
        (status = 404, description = "No such signing secret", body = NativeErrorBody), (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_signing_secret(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("signing secret"))?;
    state
        .service
        .delete_signing_secret(&principal, env_id(&env)?, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
