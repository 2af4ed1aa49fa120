//! An environment's keys: list, create (the token shown once, with a copy button) and
//! revoke. It needs an admin key; the service says so when the signed-in key is not one,
//! and the page shows it in words.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{Outcome, environment_of, rendered};
use super::layout::{Section, csrf_field, env_path, shown_once, when};
use super::{NoFields, PageResult, Posted, Signed};
use crate::domain::{Environment, Scope};
use crate::error::Error;
use crate::http::state::AppState;
use crate::service::CreatedKey;

const SCOPES: [(Scope, &str); 3] = [
    (Scope::ImagesRead, "Read images"),
    (Scope::ImagesWrite, "Upload and delete images"),
    (
        Scope::Admin,
        "Administer the environment (keys, presets, webhooks…)",
    ),
];

async fn keys_page(
    state: &AppState,
    signed: &Signed,
    environment: &Environment,
    created: Option<&CreatedKey>,
    outcome: Outcome,
) -> Response {
    let keys = state.service.keys(&signed.principal, environment.id).await;
    let body = html! {
        h1 { "Keys" }
        @if let Some(created) = created {
            (shown_once("New key token", "new-key-token", &created.token))
        }
        @match &keys {
            Err(error) => p.notice.error role="alert" { (crate::http::error::public_message(error)) },
            Ok(keys) => div.table-wrap {
                table.cards {
                    caption.muted { (keys.len()) @if keys.len() == 1 { " key" } @else { " keys" } }
                    thead { tr { th { "Name" } th { "Id" } th { "Scopes" } th { "Created" } th { "Expires" } th { "Last used" } th { "Action" } } }
                    tbody {
                        @for key in keys {
                            // Named by its name, else its token's prefix: every revoke
                            // button says which key it revokes.
                            @let name = key.name.clone().unwrap_or_else(|| key.token_prefix());
                            @let own = key.id == signed.principal.credential_id;
                            tr {
                                td data-label="Name" { (name) }
                                td.mono data-label="Id" { (key.id) }
                                td data-label="Scopes" { @for scope in &key.scopes { (scope.as_str()) " " } }
                                td data-label="Created" { (when(key.created_at)) }
                                td data-label="Expires" { (key.expires_at.map_or("never".into(), when)) }
                                td data-label="Last used" { (key.last_used_at.map_or("never".into(), when)) }
                                td data-label="Action" {
                                    @let revoke = html! {
                                        form method="post" action=(env_path(environment.id, &format!("/keys/{}/revoke", key.id))) {
                                            (csrf_field(signed))
                                            button.danger type="submit" aria-label={ "Revoke key " (name) } { "Revoke" }
                                        }
                                    };
                                    @if own {
                                        // Revoking the key this session stands on ends the
                                        // session too: asked twice.
                                        details.confirm {
                                            summary { "This session's key…" }
                                            p { "Revoking it signs you out." }
                                            (revoke)
                                        }
                                    } @else {
                                        (revoke)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create a key" }
        form.stack.card method="post" action=(env_path(environment.id, "/keys")) {
            (csrf_field(signed))
            label for="key-name" { "Name" }
            input #key-name name="name" type="text" maxlength="200" placeholder="such as web-app";
            fieldset {
                legend { "Scopes" }
                @for (scope, label) in SCOPES {
                    label {
                        input type="checkbox" name="scopes" value=(scope.as_str())
                            checked[scope != Scope::Admin];
                        (label) " (" (scope.as_str()) ")"
                    }
                }
            }
            label for="key-days" { "Expires after (days; empty for never)" }
            input #key-days name="expires_in_days" type="number" min="1" max="3650";
            button type="submit" { "Create key" }
        }
    };
    rendered(signed, environment, Section::Keys, "Keys", outcome, body)
}

/// `GET /console/environments/{env}/keys`.
pub async fn keys(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    Ok(keys_page(&state, &signed, &environment, None, None).await)
}

/// The key form. Its checked scopes arrive as repeated `scopes` fields, which serde's
/// urlencoded reader cannot collect; they are read with [`Posted::all`].
#[derive(Deserialize)]
pub struct KeyForm {
    name: Option<String>,
    expires_in_days: Option<String>,
}

fn days(text: Option<&str>) -> Result<Option<Duration>, Error> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(days @ 1..=3650) => Ok(Some(Duration::days(days))),
        _ => Err(Error::InvalidInput {
            target: "expires",
            message: "expiry must be a whole number of days from 1 to 3650".into(),
        }),
    }
}

/// `POST /console/environments/{env}/keys`.
pub async fn create_key(
    State(state): State<AppState>,
    Path(environment_id): Path<Uuid>,
    posted: Posted<KeyForm>,
) -> PageResult {
    let scopes = posted.all("scopes").join(",");
    let Posted { signed, form, .. } = posted;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let scopes = if scopes.is_empty() {
        Err(Error::InvalidInput {
            target: "scopes",
            message: "choose at least one scope".into(),
        })
    } else {
        Scope::parse_list(&scopes)
    };
    let made = async {
        let expires_at = days(form.expires_in_days.as_deref())?.map(|d| Utc::now() + d);
        let name = form.name.clone().filter(|n| !n.trim().is_empty());
        state
            .service
            .create_key(&signed.principal, environment_id, name, scopes?, expires_at)
            .await
    }
    .await;
    let (created, outcome) = match made {
        Ok(created) => (Some(created), Some(Ok("Key created.".to_string()))),
        Err(error) => (None, Some(Err(error))),
    };
    Ok(keys_page(&state, &signed, &environment, created.as_ref(), outcome).await)
}

/// `POST /console/environments/{env}/keys/{id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((environment_id, key_id)): Path<(Uuid, Uuid)>,
    posted: Posted<NoFields>,
) -> PageResult {
    let signed = posted.signed;
    let environment = environment_of(&state, &signed, environment_id).await?;
    // The key's name, for the notice, while it still exists.
    let name = state
        .service
        .key(&signed.principal, environment_id, key_id)
        .await
        .ok()
        .map(|key| key.name.clone().unwrap_or_else(|| key.token_prefix()));
    let outcome = state
        .service
        .revoke_key(&signed.principal, Some(environment_id), key_id)
        .await
        .map(|()| {
            let name = name.unwrap_or_else(|| key_id.to_string());
            format!("Key {name} revoked; it no longer works anywhere.")
        });
    Ok(keys_page(&state, &signed, &environment, None, Some(outcome)).await)
}
