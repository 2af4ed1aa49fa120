//! Operations endpoints: liveness, readiness (both engines answer), Prometheus metrics,
//! and the OpenAPI description generated from the handlers.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    /// Why the instance is not ready, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        reason: None,
    })
}

/// Readiness: the catalog and the blob store both answer, and neither has reported a full
/// disk in the last 30 seconds (an instance that cannot store uploads is not ready).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "An engine does not answer, or storage is full", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.service.check_ready().await {
        Ok(()) => Json(Health {
            status: "ready",
            reason: None,
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "not ready",
                    reason: Some(
                        if matches!(error, crate::error::Error::StorageFull { .. }) {
                            "storage is full"
                        } else {
                            "an engine does not answer"
                        },
                    ),
                }),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

/// Prometheus metrics: requests, latencies, uploads, bytes, rejections by reason, and
/// each environment's usage and quota (labelled by environment, never by subject).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Read at scrape time, so the gauges are what the catalog says now, whichever
    // instance made the change.
    if let Err(error) = state.service.record_usage_gauges().await {
        tracing::warn!(%error, "usage gauges not refreshed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    let document = state.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}
