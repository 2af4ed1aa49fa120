//! The operator's page: every environment of the deployment, and a form that makes one.
//! An environment key sees only its own environment here, and no form.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{Outcome, notice_of};
use super::layout::{Section, csrf_field, env_path, page as shell, when};
use super::{CONSOLE, PageResult, Posted, Signed, html};
use crate::domain::Environment;
use crate::error::Error;
use crate::http::state::AppState;

const PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
pub struct EnvironmentsQuery {
    after: Option<String>,
}

async fn environments_page(
    state: &AppState,
    signed: &Signed,
    after: Option<Uuid>,
    created: Option<&Environment>,
    outcome: Outcome,
) -> Result<Response, Error> {
    let (environments, next) = state
        .service
        .environments(&signed.principal, after, PAGE_SIZE)
        .await?;
    let operator = signed.principal.environment_id.is_none();
    let body = html! {
        h1 { "Environments" }
        @if let Some(created) = created {
            p { a href=(env_path(created.id, "/keys")) { "Make a key for " (created.name) } }
        }
        div.table-wrap { table.cards {
            thead { tr { th { "Name" } th { "Id" } th { "Created" } } }
            tbody {
                @for environment in &environments {
                    tr {
                        td data-label="Name" { a href=(env_path(environment.id, "")) { (environment.name) } }
                        td.mono data-label="Id" { (environment.id) }
                        td data-label="Created" { (when(environment.created_at)) }
                    }
                }
            }
        } }
        @if let Some(next) = next {
            nav.pager aria-label="Pages" {
                a href={ (CONSOLE) "/environments?after=" (next) } { "More environments" }
            }
        }
        @if operator {
            h2 { "Create an environment" }
            form.stack.card method="post" action={ (CONSOLE) "/environments" } {
                (csrf_field(signed))
                label for="environment-name" { "Name" }
                input #environment-name name="name" type="text" required maxlength="200";
                button type="submit" { "Create environment" }
            }
        }
    };
    let (status, notice) = notice_of(outcome);
    Ok(html(
        status,
        shell(
            "Environments",
            signed,
            None,
            Section::Environments,
            notice.as_ref(),
            body,
        ),
    ))
}

/// `GET /console/environments`.
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<EnvironmentsQuery>,
) -> PageResult {
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => Some(Uuid::parse_str(text).map_err(|_| Error::InvalidInput {
            target: "after",
            message: "after must be the cursor of a \"More environments\" link".into(),
        })?),
    };
    Ok(environments_page(&state, &signed, after, None, None).await?)
}

#[derive(Deserialize)]
pub struct EnvironmentForm {
    #[serde(default)]
    name: String,
}

/// `POST /console/environments`.
pub async fn create(State(state): State<AppState>, posted: Posted<EnvironmentForm>) -> PageResult {
    let Posted { signed, form, .. } = posted;
    let made = state
        .service
        .create_environment(&signed.principal, form.name.trim(), None)
        .await;
    let (created, outcome) = match made {
        Ok(environment) => {
            let text = format!("Environment {} created.", environment.name);
            (Some(environment), Ok(text))
        }
        Err(error) => (None, Err(error)),
    };
    Ok(environments_page(&state, &signed, None, created.as_ref(), Some(outcome)).await?)
}
