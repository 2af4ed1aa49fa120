//! `/v1/environments…`: tenants. An operator key creates, lists, renames, reconfigures and
//! removes them; any key of an environment may read its own (its id, name, creation time
//! and settings are no secret to a holder of its keys) and lists only that one; another
//! environment's key gets the same 404 as a missing one. The service decides all of it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Environment, EnvironmentSettings, Quota};
use crate::error::Error;
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::json_body;
use crate::http::native::paging::{PageParams, page_links};
use crate::http::native::views::{Link, ListLinks, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::service::EnvironmentChanges;

#[derive(Serialize, ToSchema)]
pub struct EnvironmentLinks {
    #[serde(rename = "self")]
    pub self_link: Link,
    pub images: Link,
}

/// An environment's settings on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsBody {
    /// Exact origins (`https://app.example`) whose browsers may call the API and upload
    /// across origins; never `*`.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// Whether metadata is stripped from uploads (default true). GPS is always removed.
    #[serde(default)]
    pub strip_metadata: Option<bool>,
    /// Limits on the whole environment; `{}` removes them. Refused uploads, claims and
    /// slot replacements answer 403 `QUOTA_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaBody>,
    /// Limits on each subject unless it has its own (`PUT …/subjects/{subject}/quota`);
    /// `{}` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_quota: Option<QuotaBody>,
}

impl SettingsBody {
    fn over(self, base: EnvironmentSettings) -> EnvironmentSettings {
        let limits = |body: Option<QuotaBody>, base: Option<Quota>| match body {
            None => base,
            Some(body) => Some(Quota::from(body)).filter(|quota| !quota.is_unlimited()),
        };
        EnvironmentSettings {
            allowed_origins: self.allowed_origins.unwrap_or(base.allowed_origins),
            strip_metadata: self.strip_metadata.unwrap_or(base.strip_metadata),
            quota: limits(self.quota, base.quota),
            subject_quota: limits(self.subject_quota, base.subject_quota),
        }
    }
}

/// Limits on images and bytes; an absent one is no limit.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_images: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl From<QuotaBody> for Quota {
    fn from(body: QuotaBody) -> Quota {
        Quota {
            max_images: body.max_images,
            max_bytes: body.max_bytes,
        }
    }
}

impl From<Quota> for QuotaBody {
    fn from(quota: Quota) -> QuotaBody {
        QuotaBody {
            max_images: quota.max_images,
            max_bytes: quota.max_bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    #[serde(rename = "_links")]
    pub links: EnvironmentLinks,
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub settings: SettingsBody,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddedEnvironments {
    pub environments: Vec<EnvironmentView>,
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentList {
    #[serde(rename = "_links")]
    pub links: ListLinks,
    #[serde(rename = "_embedded")]
    pub embedded: EmbeddedEnvironments,
    pub count: usize,
}

/// `POST /v1/environments` and `PATCH …/{envId}`: a name and settings, each optional on
/// a PATCH.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentBody {
    pub name: Option<String>,
    pub settings: Option<SettingsBody>,
}

#[derive(Deserialize, IntoParams)]
pub struct DeleteParams {
    /// `true`: also remove every image (and its variants) the environment holds.
    pub purge: Option<String>,
}

pub fn environment_view(state: &AppState, environment: Environment) -> EnvironmentView {
    let base = &state.public_url;
    let id = environment.id;
    EnvironmentView {
        links: EnvironmentLinks {
            self_link: Link {
                href: format!("{base}/v1/environments/{id}"),
            },
            images: Link {
                href: format!("{base}/v1/environments/{id}/images"),
            },
        },
        id: id.to_string(),
        name: environment.name,
        created_at: iso_millis(environment.created_at),
        settings: SettingsBody {
            allowed_origins: Some(environment.settings.allowed_origins),
            strip_metadata: Some(environment.settings.strip_metadata),
            quota: environment.settings.quota.map(QuotaBody::from),
            subject_quota: environment.settings.subject_quota.map(QuotaBody::from),
        },
    }
}

/// Create an environment (operator keys only).
#[utoipa::path(post, path = "/v1/environments", tag = "environments",
    operation_id = "create_environment",
    request_body = EnvironmentBody,
    responses(
        (status = 201, description = "The environment", body = EnvironmentView),
        (status = 400, description = "A malformed body, a bad name or setting", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an operator key", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_environment(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    body: Result<Json<EnvironmentBody>, JsonRejection>,
) -> Result<Response, NativeError> {
    let body = json_body(body)?;
    let name = body.name.ok_or_else(|| Error::InvalidInput {
        target: "name",
        message: "name is required".into(),
    })?;
    let settings = body
        .settings
        .map(|settings| settings.over(EnvironmentSettings::default()));
    let environment = state
        .service
        .create_environment(&principal, &name, settings)
        .await?;
    let view = environment_view(&state, environment);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// List environments: every one for an operator key, its own for any other.
#[utoipa::path(get, path = "/v1/environments", tag = "environments",
    operation_id = "list_environments",
    params(PageParams),
    responses(
        (status = 200, description = "A page of environments", body = EnvironmentList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_environments(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Query(params): Query<PageParams>,
) -> Result<Json<EnvironmentList>, NativeError> {
    let limit = params.limit()?;
    let after = params
        .after
        .as_deref()
        .filter(|after| !after.is_empty())
        .map(|after| parse_id(after, "environment"))
        .transpose()
        .map_err(|_| Error::InvalidInput {
            target: "after",
            message: "after must be the cursor of a next link".into(),
        })?;
    let (items, next) = state.service.environments(&principal, after, limit).await?;
    let base = format!("{}/v1/environments?limit={limit}", state.public_url);
    let links = page_links(
        &base,
        after.map(|a| a.to_string()),
        next.map(|n| n.to_string()),
    );
    let environments: Vec<EnvironmentView> = items
        .into_iter()
        .map(|environment| environment_view(&state, environment))
        .collect();
    Ok(Json(EnvironmentList {
        links,
        count: environments.len(),
        embedded: EmbeddedEnvironments { environments },
    }))
}

/// Read an environment: its own for any of its keys, any for an operator key.
#[utoipa::path(get, path = "/v1/environments/{envId}", tag = "environments",
    operation_id = "get_environment",
    params(("envId" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment", body = EnvironmentView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 404, description = "No such environment, or not the key's", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_environment(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
) -> Result<Json<EnvironmentView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let environment = state.service.environment(&principal, env).await?;
    Ok(Json(environment_view(&state, environment)))
}

/// Rename or reconfigure an environment (operator keys only); absent fields stay.
#[utoipa::path(patch, path = "/v1/environments/{envId}", tag = "environments",
    operation_id = "update_environment",
    params(("envId" = Uuid, Path, description = "Environment id")),
    request_body = EnvironmentBody,
    responses(
        (status = 200, description = "The environment as changed", body = EnvironmentView),
        (status = 400, description = "A malformed body, a bad name or setting", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn update_environment(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    body: Result<Json<EnvironmentBody>, JsonRejection>,
) -> Result<Json<EnvironmentView>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let body = json_body(body)?;
    let settings = match body.settings {
        Some(settings) => {
            let current = state.service.environment(&principal, env).await?.settings;
            Some(settings.over(current))
        }
        None => None,
    };
    let changes = EnvironmentChanges {
        name: body.name,
        settings,
    };
    let environment = state
        .service
        .update_environment(&principal, env, changes)
        .await?;
    Ok(Json(environment_view(&state, environment)))
}

/// Remove an environment with every image, variant, key, preset, secret, session,
/// dropbox item, slot and upload token in it (operator keys only). Refused while it holds
/// images, unless `purge=true`.
#[utoipa::path(delete, path = "/v1/environments/{envId}", tag = "environments",
    operation_id = "delete_environment",
    params(("envId" = Uuid, Path, description = "Environment id"), DeleteParams),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "Not an operator key", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 409, description = "It still holds images and purge was not asked for", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_environment(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<StatusCode, NativeError> {
    let env = parse_id(&env, "environment")?;
    let purge = match params.purge.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Error::InvalidInput {
                target: "purge",
                message: "purge must be true or false".into(),
            }
            .into());
        }
    };
    state
        .service
        .delete_environment(&principal, env, purge)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
