//! An environment's overview (what it holds, its quotas, the last hour's uploads) and its
//! upload page. The upload page posts each file to the native upload endpoint with the
//! session cookie and its CSRF token, one request per file, so that every file has its
//! own progress bar and outcome; without a script it says so.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use uuid::Uuid;

use super::layout::{Section, bytes, env_path, page};
use super::{ConsolePageError, Notice, PageResult, Signed, failure, html};
use crate::domain::{Environment, Quota};
use crate::error::Error;
use crate::http::state::AppState;

/// The environment a page is about, as the signed-in key may see it.
pub async fn environment_of(
    state: &AppState,
    signed: &Signed,
    environment_id: Uuid,
) -> Result<Environment, Error> {
    state
        .service
        .environment(&signed.principal, environment_id)
        .await
}

fn quota_line(quota: Option<&Quota>, images: u64, used_bytes: u64) -> Markup {
    html! {
        @match quota {
            None => "No quota",
            Some(quota) => {
                @if let Some(max) = quota.max_images { (images) " of " (max) " images" }
                @if quota.max_images.is_some() && quota.max_bytes.is_some() { "; " }
                @if let Some(max) = quota.max_bytes { (bytes(used_bytes)) " of " (bytes(max)) }
            }
        }
    }
}

/// `GET /console/environments/{env}`.
pub async fn overview(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let overview = state
        .service
        .overview(&signed.principal, environment_id)
        .await
        .in_frame(&signed, &environment, Section::Overview)?;
    let usage = &overview.usage;
    let body = html! {
        h1 { (environment.name) }
        dl.stats {
            div { dt { "Images" } dd { (usage.images) } }
            div { dt { "Stored" } dd { (bytes(usage.bytes)) } }
            div { dt { "Renditions stored" } dd { (bytes(usage.variant_bytes)) } }
            div { dt { "Subjects" } dd { (overview.subjects) } }
            div { dt { "Uploads, last hour" } dd { (overview.recent.uploads) } }
            div { dt { "Rejected uploads, last hour" } dd { (overview.recent.rejections) } }
        }
        h2 { "Quotas" }
        dl.meta.card {
            dt { "Environment" }
            dd { (quota_line(overview.limits.environment.as_ref(), usage.images, usage.bytes)) }
            dt { "Each subject" }
            dd {
                @match &overview.limits.subject {
                    None => "No quota",
                    Some(quota) => {
                        @if let Some(max) = quota.max_images { "up to " (max) " images " }
                        @if let Some(max) = quota.max_bytes { "up to " (bytes(max)) }
                    }
                }
            }
        }
        p.muted {
            "Upload counts are this server's own since it started, by the minute; other \
             instances count theirs."
        }
        p {
            a.button href=(env_path(environment_id, "/upload")) { "Add images" } " "
            a href=(env_path(environment_id, "/library")) { "Browse images" }
        }
        p.muted { "Environment id: " code { (environment_id) } }
    };
    let title = environment.name.clone();
    Ok(rendered(
        &signed,
        &environment,
        Section::Overview,
        &title,
        None,
        body,
    ))
}

/// `GET /console/environments/{env}/upload`.
pub async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let body = html! {
        h1 { "Upload images" }
        form #upload-form.stack
            data-endpoint={ "/v1/environments/" (environment_id) "/images" }
            data-image-page=(env_path(environment_id, "/images/")) {
            div #drop-zone.drop {
                label for="files" { "Images (JPEG, PNG, GIF, WebP, TIFF or BMP): choose or drop several" }
                input #files name="files" type="file" multiple accept="image/*";
                p #chosen-files.muted aria-live="polite" { "No files chosen." }
            }
            label for="subject" { "Subject (optional, such as user:42)" }
            input #subject name="subject" type="text" autocomplete="off";
            button type="submit" { "Upload" }
        }
        noscript { p.notice.error { "Uploading from the console needs JavaScript." } }
        h2 { "Results" }
        ul #upload-results.files aria-live="polite" {}
    };
    Ok(rendered(
        &signed,
        &environment,
        Section::Upload,
        "Upload",
        None,
        body,
    ))
}

/// What a form's submission came to: words for the notice, or the service's refusal.
pub type Outcome = Option<Result<String, Error>>;

/// An environment's page, with the notice of the form that led to it (if any).
pub fn rendered(
    signed: &Signed,
    environment: &Environment,
    section: Section,
    title: &str,
    outcome: Outcome,
    body: Markup,
) -> Response {
    let (status, notice) = notice_of(outcome);
    html(
        status,
        page(
            title,
            signed,
            Some(environment),
            section,
            notice.as_ref(),
            body,
        ),
    )
}

/// The notice an outcome shows and the status the page is answered with. A form the
/// service refused is answered 200: the page is shown as asked, with the refusal in words
/// beside the form. (Chromium logs every 4xx document as a console error, and a mistyped
/// field is ordinary use of a page, not an error of the page.)
pub fn notice_of(outcome: Outcome) -> (StatusCode, Option<Notice>) {
    match outcome {
        None => (StatusCode::OK, None),
        Some(Ok(text)) => (StatusCode::OK, Some(Notice::Done(text))),
        Some(Err(error)) => (StatusCode::OK, Some(failure(&error))),
    }
}

/// Puts a refusal of the signed-in key (a scope it lacks) in the page's own frame, so
/// that navigation and sign-out stay at hand; other failures stay page errors.
pub trait InFrame<T> {
    fn in_frame(
        self,
        signed: &Signed,
        environment: &Environment,
        section: Section,
    ) -> Result<T, ConsolePageError>;
}

impl<T> InFrame<T> for Result<T, Error> {
    fn in_frame(
        self,
        signed: &Signed,
        environment: &Environment,
        section: Section,
    ) -> Result<T, ConsolePageError> {
        self.map_err(|error| match error {
            // A missing image (deleted, or a stale link) is said in the frame too: the
            // environment is there, and so are the ways on.
            Error::Forbidden(_) | Error::NotFound("image") => {
                ConsolePageError::Refused(Box::new(rendered(
                    signed,
                    environment,
                    section,
                    "Not shown",
                    Some(Err(error)),
                    html! { h1 { "Not shown" } },
                )))
            }
            other => ConsolePageError::Failed(other),
        })
    }
}
