//! `GET /v1/environments/{envId}`: the environment an image's `_links.environment` points
//! at. Any key of the environment may read it (its id, name and creation time are no
//! secret to a holder of its keys); another environment's key gets the same 404 as a
//! missing one.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::views::{Link, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct EnvironmentLinks {
    #[serde(rename = "self")]
    pub self_link: Link,
    pub images: Link,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    #[serde(rename = "_links")]
    pub links: EnvironmentLinks,
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// Read the environment a key belongs to.
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
    let base = &state.public_url;
    Ok(Json(EnvironmentView {
        links: EnvironmentLinks {
            self_link: Link {
                href: format!("{base}/v1/environments/{env}"),
            },
            images: Link {
                href: format!("{base}/v1/environments/{env}/images"),
            },
        },
        id: environment.id.to_string(),
        name: environment.name,
        created_at: iso_millis(environment.created_at),
    }))
}
