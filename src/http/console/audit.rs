//! The audit log: every control-plane change of an environment (keys, presets, sessions,
//! erasures…), newest first, with a link to older events.

use axum::extract::{Path, Query, State};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{environment_of, rendered};
use super::layout::{Section, env_path, when};
use super::{PageResult, Signed};
use crate::error::Error;
use crate::http::state::AppState;

const PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

/// `GET /console/environments/{env}/audit`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let before = match query.before.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| Error::InvalidInput {
            target: "before",
            message: "before must be the cursor of an \"Older events\" link".into(),
        })?),
    };
    let events = state
        .service
        .recent_audit_events(&signed.principal, Some(environment_id), before, PAGE_SIZE)
        .await;
    let body = html! {
        h1 { "Audit log" }
        @match &events {
            Err(error) => p.notice.error role="alert" { (crate::http::error::public_message(error)) },
            Ok(page) => {
                @if page.items.is_empty() { p { "Nothing recorded yet." } }
                @else {
                    div.table-wrap { table.cards {
                        thead { tr { th { "When" } th { "Action" } th { "Target" } th { "By" } th { "Request" } } }
                        tbody {
                            @for event in &page.items {
                                tr {
                                    td data-label="When" { (when(event.created_at)) }
                                    td data-label="Action" { (event.entry.action) }
                                    td.mono data-label="Target" { (event.entry.target) }
                                    td.mono data-label="By" { (event.entry.actor) }
                                    td.mono data-label="Request" { (event.entry.request_id.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    } }
                }
                @if let Some(next) = page.next {
                    nav.pager aria-label="Pages" {
                        a href={ (env_path(environment_id, "/audit")) "?before=" (next) } { "Older events" }
                    }
                }
            }
        }
    };
    Ok(rendered(
        &signed,
        &environment,
        Section::Audit,
        "Audit log",
        None,
        body,
    ))
}
