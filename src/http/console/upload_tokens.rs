//! Upload tokens: a form that makes one (its token and upload URL shown once, as the API
//! shows them) and a form that revokes one by id. The catalog keeps no list of tokens a
//! person could browse by design of the API (a token is made for one browser and lives
//! minutes), so revocation is by the id shown when it was made.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{Outcome, environment_of, rendered};
use super::layout::{Section, csrf_field, env_path, shown_once, when};
use super::signed::optional_number;
use super::{PageResult, Posted, Signed};
use crate::domain::{Environment, Subject};
use crate::error::Error;
use crate::http::state::AppState;
use crate::media::ImageFormat;
use crate::service::{CreatedUploadToken, UploadTokenRequest};

/// Lifetimes the form offers, in seconds.
const LIFETIMES: [(u64, &str); 4] = [
    (900, "15 minutes"),
    (3600, "1 hour"),
    (86_400, "1 day"),
    (604_800, "7 days"),
];

fn tokens_page(
    signed: &Signed,
    environment: &Environment,
    created: Option<&CreatedUploadToken>,
    outcome: Outcome,
) -> Response {
    let body = html! {
        h1 { "Upload tokens" }
        p.muted { "A token lets one browser upload without a key, within the limits set here." }
        @if let Some(created) = created {
            (shown_once("Upload token", "new-upload-token", &created.token))
            (shown_once("Upload URL", "new-upload-url",
                &format!("{}/v1/uploads?token={}", signed.base, created.token)))
            p { "Token id (to revoke it): " code { (created.grant.id) } ". Expires " (when(created.grant.expires_at)) "." }
        }
        h2 { "Create an upload token" }
        form.stack.card method="post" action=(env_path(environment.id, "/upload-tokens")) {
            (csrf_field(signed))
            label for="token-subject" { "Subject (optional, such as user:42)" }
            input #token-subject name="subject" type="text" autocomplete="off";
            label { input type="checkbox" name="slot" value="true"; "Replace the subject's profile image (its slot)" }
            label for="token-uploads" { "Uploads allowed" }
            input #token-uploads name="max_uploads" type="number" min="1" max="1000" value="1";
            label for="token-bytes" { "Largest upload in bytes (optional)" }
            input #token-bytes name="max_bytes" type="number" min="1";
            fieldset {
                legend { "Formats accepted (none checked: any)" }
                @for format in ImageFormat::ALL {
                    label { input type="checkbox" name="formats" value=(format.extension()); (format.name()) }
                }
            }
            label for="token-expires" { "Expires after" }
            select #token-expires name="expires_in" {
                @for (seconds, name) in LIFETIMES { option value=(seconds) selected[seconds == 3600] { (name) } }
            }
            button type="submit" { "Create upload token" }
        }
        h2 { "Revoke an upload token" }
        form.inline.card method="post" action=(env_path(environment.id, "/upload-tokens/revoke")) {
            (csrf_field(signed))
            label { "Token id" input name="id" type="text" required pattern="[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"; }
            button.danger type="submit" { "Revoke upload token" }
        }
    };
    rendered(
        signed,
        environment,
        Section::UploadTokens,
        "Upload tokens",
        outcome,
        body,
    )
}

/// `GET /console/environments/{env}/upload-tokens`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    Ok(tokens_page(&signed, &environment, None, None))
}

#[derive(Deserialize)]
pub struct TokenForm {
    subject: Option<String>,
    slot: Option<String>,
    max_uploads: Option<String>,
    max_bytes: Option<String>,
    expires_in: Option<String>,
}

fn request(form: &TokenForm, formats: Vec<String>) -> Result<UploadTokenRequest, Error> {
    let subject = form
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Subject::parse)
        .transpose()?;
    Ok(UploadTokenRequest {
        subject,
        slot: form.slot.is_some(),
        max_bytes: optional_number("maxBytes", form.max_bytes.as_deref())?,
        max_uploads: optional_number("maxUploads", form.max_uploads.as_deref())?,
        formats: (!formats.is_empty()).then_some(formats),
        expires_in: optional_number("expiresIn", form.expires_in.as_deref())?,
    })
}

/// `POST /console/environments/{env}/upload-tokens`.
pub async fn create(
    State(state): State<AppState>,
    Path(environment_id): Path<Uuid>,
    posted: Posted<TokenForm>,
) -> PageResult {
    let formats = posted.all("formats");
    let Posted { signed, form, .. } = posted;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let made = match request(&form, formats) {
        Ok(request) => {
            state
                .service
                .create_upload_token(&signed.principal, environment_id, request)
                .await
        }
        Err(error) => Err(error),
    };
    let (created, outcome) = match made {
        Ok(created) => (Some(created), Some(Ok("Upload token created.".to_string()))),
        Err(error) => (None, Some(Err(error))),
    };
    Ok(tokens_page(
        &signed,
        &environment,
        created.as_ref(),
        outcome,
    ))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    id: String,
}

/// `POST /console/environments/{env}/upload-tokens/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(environment_id): Path<Uuid>,
    posted: Posted<RevokeForm>,
) -> PageResult {
    let Posted { signed, form, .. } = posted;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let outcome = match Uuid::parse_str(form.id.trim()) {
        Err(_) => Err(Error::InvalidInput {
            target: "id",
            message: "the token id is the UUID shown when the token was made".into(),
        }),
        Ok(id) => state
            .service
            .revoke_upload_token(&signed.principal, environment_id, id)
            .await
            .map(|()| format!("Upload token {id} revoked.")),
    };
    Ok(tokens_page(&signed, &environment, None, Some(outcome)))
}
