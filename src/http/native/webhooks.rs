//! `/v1/environments/{envId}/webhooks…`: an environment's webhooks (admin), their secret
//! (shown when made and when rotated, never listed), and their deliveries.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Webhook, WebhookDelivery};
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::json_body;
use crate::http::native::paging::{PageParams, page_links};
use crate::http::native::views::{ListLinks, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where events are POSTed: http(s), a public address.
    pub url: String,
    /// Any of `image.created`, `image.deleted`, `subject.erased`, `quota.exceeded`.
    pub events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    pub created_at: String,
    pub updated_at: String,
    /// Only when the webhook is made or its secret rotated: `whsec_` and base64 of the
    /// HMAC-SHA256 key (Standard Webhooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The delivery's number (the `after` cursor of the next page).
    pub id: i64,
    /// The `webhook-id` header of every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: &'static str,
    pub created_at: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// The receiver's status code on the last attempt, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddedDeliveries {
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    #[serde(rename = "_links")]
    pub links: ListLinks,
    #[serde(rename = "_embedded")]
    pub embedded: EmbeddedDeliveries,
    pub count: usize,
}

fn webhook_view(webhook: Webhook, with_secret: bool) -> WebhookView {
    WebhookView {
        id: webhook.id.to_string(),
        url: webhook.url,
        events: webhook.events.iter().map(|e| e.as_str()).collect(),
        created_at: iso_millis(webhook.created_at),
        updated_at: iso_millis(webhook.updated_at),
        secret: with_secret.then_some(webhook.secret),
    }
}

fn delivery_view(delivery: WebhookDelivery) -> DeliveryView {
    let state = match (delivery.delivered_at, delivery.next_attempt_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "pending",
        (None, None) => "failed",
    };
    DeliveryView {
        id: delivery.number,
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        state,
        created_at: iso_millis(delivery.created_at),
        attempts: delivery.attempts,
        next_attempt_at: delivery.next_attempt_at.map(iso_millis),
        last_attempt_at: delivery.last_attempt_at.map(iso_millis),
        last_status: delivery.last_status,
        last_error: delivery.last_error,
        delivered_at: delivery.delivered_at.map(iso_millis),
        payload: serde_json::from_str(&delivery.payload).unwrap_or_default(),
    }
}

/// An answer holding a secret: never cached.
fn with_secret(status: StatusCode, view: WebhookView) -> Response {
    let mut response = (status, Json(view)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Subscribe a URL to events; the answer holds the signing secret, once.
#[utoipa::path(post, path = "/v1/environments/{envId}/webhooks", tag = "governance",
    operation_id = "create_webhook",
    params(("envId" = Uuid, Path, description = "Environment id")),
    request_body = WebhookBody,
    responses(
        (status = 201, description = "The webhook, with its secret (shown once)", body = WebhookView),
        (status = 400, description = "A malformed body, an unknown event, a URL refused", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 409, description = "The environment has as many webhooks as it may", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    body: Result<Json<WebhookBody>, JsonRejection>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let body = json_body(body)?;
    let webhook = state
        .service
        .create_webhook(&principal, env, &body.url, &body.events)
        .await?;
    Ok(with_secret(
        StatusCode::CREATED,
        webhook_view(webhook, true),
    ))
}

/// List an environment's webhooks (without secrets).
#[utoipa::path(get, path = "/v1/environments/{envId}/webhooks", tag = "governance",
    operation_id = "list_webhooks",
    params(("envId" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The webhooks, oldest first", body = WebhookList),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<WebhookList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let webhooks = state.service.webhooks(&principal, env).await?;
    Ok(Json(WebhookList {
        webhooks: webhooks
            .into_iter()
            .map(|w| webhook_view(w, false))
            .collect(),
    }))
}

/// Read a webhook (without its secret).
#[utoipa::path(get, path = "/v1/environments/{envId}/webhooks/{webhookId}", tag = "governance",
    operation_id = "get_webhook",
    params(("envId" = Uuid, Path, description = "Environment id"), ("webhookId" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such webhook", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Json<WebhookView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "webhook")?;
    let webhook = state.service.webhook(&principal, env, id).await?;
    Ok(Json(webhook_view(webhook, false)))
}

/// Delete a webhook; its pending deliveries go with it.
#[utoipa::path(delete, path = "/v1/environments/{envId}/webhooks/{webhookId}", tag = "governance",
    operation_id = "delete_webhook",
    params(("envId" = Uuid, Path, description = "Environment id"), ("webhookId" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such webhook", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "webhook")?;
    state.service.delete_webhook(&principal, env, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a webhook's signing secret; the answer holds the new one, once. Attempts
/// from then on are signed with it.
#[utoipa::path(post, path = "/v1/environments/{envId}/webhooks/{webhookId}/rotate-secret", tag = "governance",
    operation_id = "rotate_webhook_secret",
    params(("envId" = Uuid, Path, description = "Environment id"), ("webhookId" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook with its new secret (shown once)", body = WebhookView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such webhook", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "webhook")?;
    let webhook = state
        .service
        .rotate_webhook_secret(&principal, env, id)
        .await?;
    Ok(with_secret(StatusCode::OK, webhook_view(webhook, true)))
}

/// A webhook's deliveries, newest first: each event's attempts and the last answer.
#[utoipa::path(get, path = "/v1/environments/{envId}/webhooks/{webhookId}/deliveries", tag = "governance",
    operation_id = "list_webhook_deliveries",
    params(("envId" = Uuid, Path, description = "Environment id"), ("webhookId" = Uuid, Path, description = "Webhook id"), PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such webhook", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
    Query(params): Query<PageParams>,
) -> Result<Json<DeliveryList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "webhook")?;
    let limit = params.limit()?;
    let before = params.after_number()?;
    let page = state
        .service
        .webhook_deliveries(&principal, env, id, before, limit)
        .await?;
    let base = format!(
        "{}/v1/environments/{env}/webhooks/{id}/deliveries?limit={limit}",
        state.public_url
    );
    let links = page_links(
        &base,
        before.map(|b| b.to_string()),
        page.next.map(|n| n.to_string()),
    );
    let deliveries: Vec<DeliveryView> = page.items.into_iter().map(delivery_view).collect();
    Ok(Json(DeliveryList {
        links,
        count: deliveries.len(),
        embedded: EmbeddedDeliveries { deliveries },
    }))
}
