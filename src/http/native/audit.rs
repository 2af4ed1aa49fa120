//! `GET /v1/environments/{envId}/audit-events`: an environment's audit log, for its admin
//! keys and operator keys; `GET /v1/audit-events`: the deployment's (environments made,
//! changed and removed, operator keys), for operator keys. Oldest first, a page at a
//! time. Never a token.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use uuid::Uuid;

use crate::domain::{AuditEvent, Principal};
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::paging::{PageParams, page_links};
use crate::http::native::views::{ListLinks, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// The event's place in the log (the `after` cursor of the next page).
    pub number: i64,
    /// The key that acted (its id), or `operator`.
    pub actor: String,
    /// Such as `key.create`, `key.revoke`, `preset.put`, `session.end`.
    pub action: String,
    /// What was changed, such as `key/{id}`.
    pub target: String,
    pub time: String,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddedAuditEvents {
    pub events: Vec<AuditEventView>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventList {
    #[serde(rename = "_links")]
    pub links: ListLinks,
    #[serde(rename = "_embedded")]
    pub embedded: EmbeddedAuditEvents,
    pub count: usize,
}

fn event_view(event: AuditEvent) -> AuditEventView {
    AuditEventView {
        number: event.number,
        actor: event.entry.actor,
        action: event.entry.action,
        target: event.entry.target,
        time: iso_millis(event.created_at),
        request_id: event.entry.request_id,
    }
}

/// Read an environment's audit log.
#[utoipa::path(get, path = "/v1/environments/{envId}/audit-events", tag = "keys",
    operation_id = "list_audit_events",
    params(("envId" = Uuid, Path, description = "Environment id"), PageParams),
    responses(
        (status = 200, description = "A page of events, oldest first", body = AuditEventList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Json<AuditEventList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let base = format!("{}/v1/environments/{env}/audit-events", state.public_url);
    audit_page(&state, &principal, Some(env), &base, &params).await
}

/// Read the deployment's audit log (operator keys only).
#[utoipa::path(get, path = "/v1/audit-events", tag = "environments",
    operation_id = "list_deployment_audit_events",
    params(PageParams),
    responses(
        (status = 200, description = "A page of events, oldest first", body = AuditEventList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an operator key", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_deployment_audit_events(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Query(params): Query<PageParams>,
) -> Result<Json<AuditEventList>, NativeError> {
    let base = format!("{}/v1/audit-events", state.public_url);
    audit_page(&state, &principal, None, &base, &params).await
}

async fn audit_page(
    state: &AppState,
    principal: &Principal,
    environment_id: Option<Uuid>,
    base: &str,
    params: &PageParams,
) -> Result<Json<AuditEventList>, NativeError> {
    let limit = params.limit()?;
    let after = params.after_number()?;
    let page = state
        .service
        .audit_events(principal, environment_id, after, limit)
        .await?;
    let base = format!("{base}?limit={limit}");
    let links = page_links(
        &base,
        after.map(|a| a.to_string()),
        page.next.map(|n| n.to_string()),
    );
    let events: Vec<AuditEventView> = page.items.into_iter().map(event_view).collect();
    Ok(Json(AuditEventList {
        links,
        count: events.len(),
        embedded: EmbeddedAuditEvents { events },
    }))
}
