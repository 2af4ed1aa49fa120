//! Webhooks: the environment's subscriptions with their last deliveries, a form that
//! subscribes a URL to chosen events (its signing secret shown once), and delete behind a
//! confirmation. The service refuses URLs it would not deliver to (private addresses,
//! unless the deployment allows them) and the page says why.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{Outcome, environment_of, rendered};
use super::layout::{Section, csrf_field, env_path, shown_once, when};
use super::{NoFields, PageResult, Posted, Signed};
use crate::domain::{Environment, EventType, Webhook, WebhookDelivery};
use crate::http::error::public_message;
use crate::http::state::AppState;

/// Deliveries shown under each webhook.
const RECENT_DELIVERIES: u32 = 5;

fn delivery_state(delivery: &WebhookDelivery) -> String {
    match (delivery.delivered_at, delivery.next_attempt_at) {
        (Some(at), _) => format!("delivered {}", when(at)),
        (None, Some(next)) => format!("attempt {} due {}", delivery.attempts + 1, when(next)),
        (None, None) => "given up".into(),
    }
}

async fn webhooks_page(
    state: &AppState,
    signed: &Signed,
    environment: &Environment,
    created: Option<&Webhook>,
    outcome: Outcome,
) -> Response {
    let webhooks = state
        .service
        .webhooks(&signed.principal, environment.id)
        .await;
    let mut deliveries = Vec::new();
    for webhook in webhooks.as_deref().unwrap_or_default() {
        let recent = state
            .service
            .webhook_deliveries(
                &signed.principal,
                environment.id,
                webhook.id,
                None,
                RECENT_DELIVERIES,
            )
            .await
            .map(|page| page.items)
            .unwrap_or_default();
        deliveries.push(recent);
    }
    let body = html! {
        h1 { "Webhooks" }
        @if let Some(created) = created {
            (shown_once("Signing secret", "new-webhook-secret", &created.secret))
        }
        @match &webhooks {
            Err(error) => p.notice.error role="alert" { (public_message(error)) },
            Ok(webhooks) if webhooks.is_empty() => p { "No webhooks." },
            Ok(webhooks) => {
                @for (webhook, recent) in webhooks.iter().zip(&deliveries) {
                    section.card aria-label={ "Webhook " (webhook.url) } {
                        h2.mono { (webhook.url) }
                        p { "Events: " @for event in &webhook.events { code { (event.as_str()) } " " } }
                        p.muted { "Id " span.mono { (webhook.id) } " · created " (when(webhook.created_at)) }
                        @if recent.is_empty() { p.muted { "No deliveries yet." } }
                        @else {
                            ul {
                                @for delivery in recent {
                                    li {
                                        code { (delivery.event_type) } " · " (delivery_state(delivery))
                                        @if let Some(status) = delivery.last_status { " · last answer " (status) }
                                        @if let Some(error) = &delivery.last_error { " · " (error) }
                                    }
                                }
                            }
                        }
                        details.confirm {
                            summary { "Delete…" }
                            form method="post" action=(env_path(environment.id, &format!("/webhooks/{}/delete", webhook.id))) {
                                (csrf_field(signed))
                                button.danger type="submit" { "Delete webhook " (webhook.url) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a webhook" }
        form.stack.card method="post" action=(env_path(environment.id, "/webhooks")) {
            (csrf_field(signed))
            label for="webhook-url" { "URL (https://…)" }
            input #webhook-url name="url" type="url" required;
            fieldset {
                legend { "Events" }
                @for event in EventType::ALL {
                    label { input type="checkbox" name="events" value=(event.as_str()) checked; (event.as_str()) }
                }
            }
            button type="submit" { "Add webhook" }
        }
    };
    rendered(
        signed,
        environment,
        Section::Webhooks,
        "Webhooks",
        outcome,
        body,
    )
}

/// `GET /console/environments/{env}/webhooks`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    Ok(webhooks_page(&state, &signed, &environment, None, None).await)
}

#[derive(Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    url: String,
}

/// `POST /console/environments/{env}/webhooks`.
pub async fn create(
    State(state): State<AppState>,
    Path(environment_id): Path<Uuid>,
    posted: Posted<WebhookForm>,
) -> PageResult {
    let events = posted.all("events");
    let Posted { signed, form, .. } = posted;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let made = state
        .service
        .create_webhook(&signed.principal, environment_id, form.url.trim(), &events)
        .await;
    let (created, outcome) = match made {
        Ok(webhook) => (Some(webhook), Ok("Webhook added.".to_string())),
        Err(error) => (None, Err(error)),
    };
    Ok(webhooks_page(
        &state,
        &signed,
        &environment,
        created.as_ref(),
        Some(outcome),
    )
    .await)
}

/// `POST /console/environments/{env}/webhooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((environment_id, webhook_id)): Path<(Uuid, Uuid)>,
    posted: Posted<NoFields>,
) -> PageResult {
    let signed = posted.signed;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let outcome = state
        .service
        .delete_webhook(&signed.principal, environment_id, webhook_id)
        .await
        .map(|()| "Webhook deleted.".to_string());
    Ok(webhooks_page(&state, &signed, &environment, None, Some(outcome)).await)
}
