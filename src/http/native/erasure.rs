//! Erasing and exporting a subject, the receipts of erasures, and the deployment's
//! public keys that verify them (`/.well-known/jwks.json`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Receipt, Subject};
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::views::{image_view, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;

/// A signed erasure receipt. The signature is Ed25519, base64url without padding, over
/// the UTF-8 JSON of every other field, keys sorted, no whitespace (RFC 8785); the key
/// is the one named `kid` in `/.well-known/jwks.json`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    pub receipt_id: String,
    pub environment_id: String,
    pub subject: String,
    /// RFC 3339, milliseconds, UTC.
    pub erased_at: String,
    pub images: u64,
    pub bytes: u64,
    /// The distinct BLAKE3 content hashes erased, sorted.
    pub content_hashes: Vec<String>,
    pub kid: String,
    pub signature: String,
}

fn receipt_view(receipt: Receipt) -> ReceiptView {
    ReceiptView {
        receipt_id: receipt.id.to_string(),
        environment_id: receipt.environment_id.to_string(),
        subject: receipt.subject.as_str().to_string(),
        erased_at: iso_millis(receipt.erased_at),
        images: receipt.images,
        bytes: receipt.bytes,
        content_hashes: receipt.content_hashes,
        kid: receipt.kid,
        signature: receipt.signature,
    }
}

/// Erase a subject: every image, variant, slot and cached copy, with a signed receipt
/// (admin). Idempotent: erasing again answers a receipt of 0 images.
#[utoipa::path(delete, path = "/v1/environments/{envId}/subjects/{subject}", tag = "governance",
    operation_id = "erase_subject",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("subject" = String, Path, description = "The subject, such as user:42")),
    responses(
        (status = 200, description = "Erased; the signed receipt", body = ReceiptView),
        (status = 400, description = "Not a subject", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry (the erasure resumes)", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn erase_subject(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, subject)): Path<(String, String)>,
) -> Result<Json<ReceiptView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let subject = Subject::parse(&subject)?;
    let receipt = state
        .service
        .erase_subject(&principal, env, &subject)
        .await?;
    Ok(Json(receipt_view(receipt)))
}

/// Read an erasure's receipt again.
#[utoipa::path(get, path = "/v1/environments/{envId}/receipts/{receiptId}", tag = "governance",
    operation_id = "get_receipt",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("receiptId" = Uuid, Path, description = "Receipt id")),
    responses(
        (status = 200, description = "The signed receipt", body = ReceiptView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such receipt (or the erasure is still under way)", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_receipt(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, receipt)): Path<(String, String)>,
) -> Result<Json<ReceiptView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let receipt = parse_id(&receipt, "receipt")?;
    let receipt = state.service.receipt(&principal, env, receipt).await?;
    Ok(Json(receipt_view(receipt)))
}

/// Export a subject: a ZIP of every original, byte for byte as served, and
/// `manifest.json` with each image's metadata and targets (admin). Streamed.
#[utoipa::path(get, path = "/v1/environments/{envId}/subjects/{subject}/export", tag = "governance",
    operation_id = "export_subject",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("subject" = String, Path, description = "The subject, such as user:42")),
    responses(
        (status = 200, description = "The ZIP (images/{id}.{ext} and manifest.json)", content_type = "application/zip"),
        (status = 400, description = "Not a subject", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn export_subject(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, subject)): Path<(String, String)>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let subject = Subject::parse(&subject)?;
    let file_name = format!("{}.zip", subject.as_str().replace(':', "-"));
    let view_state = state.clone();
    let describe = Box::new(move |described: &crate::service::Described| {
        serde_json::to_value(image_view(&view_state, described)).unwrap_or_default()
    });
    let stream = state
        .service
        .clone()
        .export_subject(&principal, env, subject, describe)
        .await?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The deployment's public keys for erasure receipts (Ed25519 JWKs), for verifying a
/// receipt offline.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "governance",
    operation_id = "jwks",
    responses(
        (status = 200, description = "A JWK set: kty OKP, crv Ed25519, kid, x"),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, NativeError> {
    let keys = state.service.jwks().await?;
    let mut response = Json(keys).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
