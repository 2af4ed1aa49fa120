//! `/v1/environments/{envId}/subjects…` and `…/usage`: what an environment and each of
//! its subjects (`user:42`, `person:7`, …) hold, across every dialect, and the quotas on
//! them. Erasing and exporting a subject are in `erasure`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Limits, Subject, SubjectSummary, Usage};
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::environments::QuotaBody;
use crate::http::native::images::parse_id;
use crate::http::native::json_body;
use crate::http::native::paging::{PageParams, page_links};
use crate::http::native::views::ListLinks;
use crate::http::principal::Caller;
use crate::http::state::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectView {
    pub subject: String,
    /// Permanent images about the subject, in every dialect.
    pub images: u64,
    /// Bytes of their originals.
    pub bytes: u64,
    /// Bytes of their stored variants.
    pub variant_bytes: u64,
    /// The subject's current image (SuperOffice's person image), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_image_id: Option<String>,
    /// The limits that apply: the subject's own, else the environment's `subjectQuota`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaBody>,
    /// `subject` when the quota is the subject's own, `environment` for the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_source: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddedSubjects {
    pub subjects: Vec<SubjectView>,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectList {
    #[serde(rename = "_links")]
    pub links: ListLinks,
    #[serde(rename = "_embedded")]
    pub embedded: EmbeddedSubjects,
    pub count: usize,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub environment_id: String,
    pub images: u64,
    pub bytes: u64,
    pub variant_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_quota: Option<QuotaBody>,
}

pub fn subject_view(summary: SubjectSummary) -> SubjectView {
    SubjectView {
        subject: summary.subject.as_str().to_string(),
        images: summary.usage.images,
        bytes: summary.usage.bytes,
        variant_bytes: summary.usage.variant_bytes,
        slot_image_id: summary.slot_image_id.map(|id| id.to_string()),
        quota_source: summary.quota.map(|_| {
            if summary.own_quota {
                "subject"
            } else {
                "environment"
            }
        }),
        quota: summary.quota.map(QuotaBody::from),
    }
}

fn usage_view(environment_id: uuid::Uuid, usage: Usage, limits: Limits) -> UsageView {
    UsageView {
        environment_id: environment_id.to_string(),
        images: usage.images,
        bytes: usage.bytes,
        variant_bytes: usage.variant_bytes,
        quota: limits.environment.map(QuotaBody::from),
        subject_quota: limits.subject.map(QuotaBody::from),
    }
}

/// What an environment holds: exactly the sum of its images, whatever happened.
#[utoipa::path(get, path = "/v1/environments/{envId}/usage", tag = "governance",
    operation_id = "get_usage",
    params(("envId" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment's usage and quotas", body = UsageView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_usage(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<UsageView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let (usage, limits) = state.service.usage(&principal, env).await?;
    Ok(Json(usage_view(env, usage, limits)))
}

/// List the subjects that hold images, in subject order.
#[utoipa::path(get, path = "/v1/environments/{envId}/subjects", tag = "governance",
    operation_id = "list_subjects",
    params(("envId" = Uuid, Path, description = "Environment id"), PageParams),
    responses(
        (status = 200, description = "A page of subjects", body = SubjectList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_subjects(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Json<SubjectList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let limit = params.limit()?;
    let after = params.after.as_deref().filter(|a| !a.is_empty());
    let (subjects, more) = state
        .service
        .subjects(&principal, env, after, limit)
        .await?;
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let next = more
        .then(|| subjects.last().map(|last| encode(last.subject.as_str())))
        .flatten();
    let base = format!(
        "{}/v1/environments/{env}/subjects?limit={limit}",
        state.public_url
    );
    let links = page_links(&base, after.map(encode), next);
    let subjects: Vec<SubjectView> = subjects.into_iter().map(subject_view).collect();
    Ok(Json(SubjectList {
        links,
        count: subjects.len(),
        embedded: EmbeddedSubjects { subjects },
    }))
}

/// Read a subject: what it holds in every dialect, its slot, its quota.
#[utoipa::path(get, path = "/v1/environments/{envId}/subjects/{subject}", tag = "governance",
    operation_id = "get_subject",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("subject" = String, Path, description = "The subject, such as user:42")),
    responses(
        (status = 200, description = "The subject (all zero when it holds nothing)", body = SubjectView),
        (status = 400, description = "Not a subject", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_subject(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, subject)): Path<(String, String)>,
) -> Result<Json<SubjectView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let subject = Subject::parse(&subject)?;
    let summary = state.service.subject(&principal, env, &subject).await?;
    Ok(Json(subject_view(summary)))
}

/// Set a subject's own quota, in place of the environment's `subjectQuota` (admin).
#[utoipa::path(put, path = "/v1/environments/{envId}/subjects/{subject}/quota", tag = "governance",
    operation_id = "put_subject_quota",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("subject" = String, Path, description = "The subject, such as user:42")),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "The subject with its quota", body = SubjectView),
        (status = 400, description = "A malformed body or subject", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_subject_quota(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, subject)): Path<(String, String)>,
    body: Result<Json<QuotaBody>, JsonRejection>,
) -> Result<Json<SubjectView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let subject = Subject::parse(&subject)?;
    let quota = json_body(body)?;
    let summary = state
        .service
        .set_subject_quota(&principal, env, &subject, Some(quota.into()))
        .await?;
    Ok(Json(subject_view(summary)))
}

/// Remove a subject's own quota; the environment's `subjectQuota` applies again (admin).
#[utoipa::path(delete, path = "/v1/environments/{envId}/subjects/{subject}/quota", tag = "governance",
    operation_id = "delete_subject_quota",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("subject" = String, Path, description = "The subject, such as user:42")),
    responses(
        (status = 200, description = "The subject without a quota of its own", body = SubjectView),
        (status = 400, description = "Not a subject", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an admin or operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_subject_quota(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, subject)): Path<(String, String)>,
) -> Result<Json<SubjectView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let subject = Subject::parse(&subject)?;
    let summary = state
        .service
        .set_subject_quota(&principal, env, &subject, None)
        .await?;
    Ok(Json(subject_view(summary)))
}
