//! Subjects: the people and things an environment's images are about. The list shows what
//! each holds against its quota; a subject's page links to its images, exports them (the
//! API's ZIP, downloaded with the session) and erases them behind a confirmation, showing
//! the signed receipt's summary afterwards.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{InFrame, Outcome, environment_of, rendered};
use super::layout::{Section, bytes, csrf_field, env_path, when};
use super::{NoFields, PageResult, Posted, Signed};
use crate::domain::{Environment, Quota, Receipt, Subject, SubjectSummary};
use crate::error::Error;
use crate::http::state::AppState;

const PAGE_SIZE: u32 = 100;

fn encoded(subject: &Subject) -> String {
    utf8_percent_encode(subject.as_str(), NON_ALPHANUMERIC).to_string()
}

fn quota_text(quota: Option<&Quota>) -> String {
    match quota {
        None => "none".into(),
        Some(quota) => {
            let images = quota.max_images.map(|n| format!("{n} images"));
            let size = quota.max_bytes.map(bytes);
            [images, size]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

#[derive(Deserialize)]
pub struct SubjectsQuery {
    after: Option<String>,
}

/// `GET /console/environments/{env}/subjects`.
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
    Query(query): Query<SubjectsQuery>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    let (subjects, more) = state
        .service
        .subjects(&signed.principal, environment_id, after, PAGE_SIZE)
        .await
        .in_frame(&signed, &environment, Section::Subjects)?;
    let body = html! {
        h1 { "Subjects" }
        @if subjects.is_empty() {
            p { "No subject holds images." }
        } @else {
            div.table-wrap { table.cards {
                thead { tr { th { "Subject" } th { "Images" } th { "Stored" } th { "Quota" } } }
                tbody {
                    @for summary in &subjects {
                        tr {
                            td data-label="Subject" { a href=(env_path(environment_id, &format!("/subjects/{}", encoded(&summary.subject)))) { (summary.subject.as_str()) } }
                            td data-label="Images" { (summary.usage.images) }
                            td data-label="Stored" { (bytes(summary.usage.bytes)) }
                            td data-label="Quota" { (quota_text(summary.quota.as_ref())) }
                        }
                    }
                }
            } }
        }
        @if let (true, Some(last)) = (more, subjects.last()) {
            nav.pager aria-label="Pages" {
                a href={ (env_path(environment_id, "/subjects")) "?after=" (encoded(&last.subject)) } { "More subjects" }
            }
        }
    };
    Ok(rendered(
        &signed,
        &environment,
        Section::Subjects,
        "Subjects",
        None,
        body,
    ))
}

fn subject_page(
    signed: &Signed,
    environment: &Environment,
    summary: &SubjectSummary,
    receipt: Option<&Receipt>,
    outcome: Outcome,
) -> Response {
    let subject = &summary.subject;
    let export = format!(
        "/v1/environments/{}/subjects/{}/export",
        environment.id,
        encoded(subject)
    );
    let images = format!(
        "{}?subject={}",
        env_path(environment.id, "/library"),
        encoded(subject)
    );
    let body: Markup = html! {
        p { a href=(env_path(environment.id, "/subjects")) { "← Subjects" } }
        h1 { "Subject " (subject.as_str()) }
        @if let Some(receipt) = receipt {
            div.card {
                h2 { "Erasure receipt" }
                dl.meta {
                    dt { "Receipt id" } dd.mono { (receipt.id) }
                    dt { "Erased at" } dd { (when(receipt.erased_at)) }
                    dt { "Images erased" } dd { (receipt.images) }
                    dt { "Bytes erased" } dd { (bytes(receipt.bytes)) }
                }
                p { a href={ "/v1/environments/" (environment.id) "/receipts/" (receipt.id) } { "The signed receipt (JSON)" } }
            }
        }
        dl.stats {
            div { dt { "Images" } dd { (summary.usage.images) } }
            div { dt { "Stored" } dd { (bytes(summary.usage.bytes)) } }
            div { dt { "Renditions stored" } dd { (bytes(summary.usage.variant_bytes)) } }
            div { dt { @if summary.own_quota { "Own quota" } @else { "Quota" } } dd { (quota_text(summary.quota.as_ref())) } }
        }
        p {
            a href=(images) { "See this subject's images" } " · "
            a href=(export) download { "Export this subject's images (ZIP)" }
        }
        h2 { "Erase" }
        details.confirm {
            summary { "Erase everything this subject holds…" }
            form method="post" action=(env_path(environment.id, &format!("/subjects/{}/erase", encoded(subject)))) {
                (csrf_field(signed))
                p { "Every image of " strong { (subject.as_str()) } ", its renditions and its slot go for good. A signed receipt records the erasure." }
                button.danger type="submit" { "Erase subject " (subject.as_str()) }
            }
        }
    };
    rendered(
        signed,
        environment,
        Section::Subjects,
        subject.as_str(),
        outcome,
        body,
    )
}

/// `GET /console/environments/{env}/subjects/{subject}`.
pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path((environment_id, subject)): Path<(Uuid, String)>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let subject = Subject::parse(&subject)?;
    let summary = state
        .service
        .subject(&signed.principal, environment_id, &subject)
        .await
        .in_frame(&signed, &environment, Section::Subjects)?;
    Ok(subject_page(&signed, &environment, &summary, None, None))
}

/// `POST /console/environments/{env}/subjects/{subject}/erase`.
pub async fn erase(
    State(state): State<AppState>,
    Path((environment_id, subject)): Path<(Uuid, String)>,
    posted: Posted<NoFields>,
) -> PageResult {
    let signed = posted.signed;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let subject = Subject::parse(&subject)?;
    let erased: Result<Receipt, Error> = state
        .service
        .erase_subject(&signed.principal, environment_id, &subject)
        .await;
    let summary = state
        .service
        .subject(&signed.principal, environment_id, &subject)
        .await
        .in_frame(&signed, &environment, Section::Subjects)?;
    let (receipt, outcome) = match erased {
        Ok(receipt) => {
            let text = format!("Erased {} images of {}.", receipt.images, subject.as_str());
            (Some(receipt), Ok(text))
        }
        Err(error) => (None, Err(error)),
    };
    Ok(subject_page(
        &signed,
        &environment,
        &summary,
        receipt.as_ref(),
        Some(outcome),
    ))
}
