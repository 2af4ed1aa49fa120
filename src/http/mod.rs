//! The HTTP edge. Every route is listed in [`router`], together with the layers every
//! request passes through: a request id (also the `id` of error bodies) with the access
//! log line, panic catching, sensitive headers, metrics, and request/body timeouts. Only this
//! module knows axum; handlers parse, call the service, and render.

mod conditional;
pub mod console;
pub mod content;
pub mod dialect;
pub mod dialects;
pub mod doc_schemas;
pub mod edge;
pub mod error;
#[cfg(test)]
mod error_answers;
pub mod native;
pub mod principal;
mod state;
pub mod transform_query;
pub mod upload;

use std::convert::Infallible;
use std::time::Duration;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
pub use edge::auth_throttle::AuthThrottle;
pub use edge::body_rate::MinRate;
use edge::request_context::RequestContextLayer;
use error::NativeError;
pub use state::AppState;

/// Timeouts applied by the router's layers.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub request: Duration,
    pub body_idle: Duration,
    pub body_rate: edge::body_rate::MinRate,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "imagestore", description = "A self-hostable image service: validated, \
        metadata-stripped, durably stored images served fast and safely."),
    modifiers(&SecuritySchemes),
    tags((name = "environments", description = "Environments (tenants): made and removed by operator keys, read by their own keys"),
        (name = "keys", description = "An environment's API keys and its audit log"),
        (name = "governance", description = "Subjects, usage and quotas; erasure with signed receipts, export; webhooks"),
        (name = "uploads", description = "Upload tokens: direct uploads from a browser"),
        (name = "images", description = "The native, PingOne-shaped images API"),
        (name = "renditions", description = "Presets, signed rendition URLs and their secrets"),
        (name = "content", description = "Image bytes and renditions at their public hrefs"),
        (name = "sessions", description = "Browser sessions with CSRF protection"),
        (name = "questionpro", description = "QuestionPro's user images API"),
        (name = "superoffice", description = "SuperOffice's Person/{id}/Image"),
        (name = "akana", description = "Akana's dropbox (temporary uploads, claimed later)"),
        (name = "operations", description = "Health, readiness, metrics, this document"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Every operation that can answer 401 can also answer 429: `auth_throttle` sits in front
/// of all of them and refuses a credential from an address that failed too often. Added
/// here, once, rather than in each handler's annotation, as the layer is added once.
fn document_auth_throttle(api: &mut utoipa::openapi::OpenApi) {
    let throttled = utoipa::openapi::ResponseBuilder::new()
        .description(
            "This client address failed authentication too often; retry after Retry-After \
             seconds (credentials are not checked until then)",
        )
        .build();
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.head,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            if responses.contains_key("401") {
                responses
                    .entry("429".to_string())
                    .or_insert_with(|| throttled.clone().into());
            }
        }
    }
}

/// The whole HTTP service: every route, with its layers.
pub fn router(
    state: AppState,
    timeouts: Timeouts,
) -> impl tower::Service<
    Request<Incoming>,
    Response = axum::http::Response<
        impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    >,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let (routes, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            native::environments::create_environment,
            native::environments::list_environments
        ))
        .routes(routes!(
            native::environments::get_environment,
            native::environments::update_environment,
            native::environments::delete_environment
        ))
        .routes(routes!(native::keys::create_key, native::keys::list_keys))
        .routes(routes!(native::keys::get_key, native::keys::revoke_key))
        .routes(routes!(native::subjects::get_usage))
        .routes(routes!(native::subjects::list_subjects))
        .routes(routes!(
            native::subjects::get_subject,
            native::erasure::erase_subject
        ))
        .routes(routes!(
            native::subjects::put_subject_quota,
            native::subjects::delete_subject_quota
        ))
        .routes(routes!(native::erasure::export_subject))
        .routes(routes!(native::erasure::get_receipt))
        .routes(routes!(native::erasure::jwks))
        .routes(routes!(
            native::webhooks::create_webhook,
            native::webhooks::list_webhooks
        ))
        .routes(routes!(
            native::webhooks::get_webhook,
            native::webhooks::delete_webhook
        ))
        .routes(routes!(native::webhooks::rotate_webhook_secret))
        .routes(routes!(native::webhooks::list_webhook_deliveries))
        .routes(routes!(native::audit::list_audit_events))
        .routes(routes!(native::audit::list_deployment_audit_events))
        .routes(routes!(native::upload_tokens::create_upload_token))
        .routes(routes!(native::upload_tokens::revoke_upload_token))
        .routes(routes!(native::upload_tokens::upload_with_token))
        .routes(routes!(
            native::images::upload_image,
            native::images::list_images
        ))
        .routes(routes!(
            native::images::get_image,
            native::images::delete_image
        ))
        .routes(routes!(native::sessions::create_session))
        .routes(routes!(
            native::sessions::get_current_session,
            native::sessions::end_current_session
        ))
        .routes(routes!(native::presets::list_presets))
        .routes(routes!(
            native::presets::put_preset,
            native::presets::get_preset,
            native::presets::delete_preset
        ))
        .routes(routes!(native::presets::sign_url))
        .routes(routes!(
            native::presets::create_signing_secret,
            native::presets::list_signing_secrets
        ))
        .routes(routes!(native::presets::delete_signing_secret))
        .routes(routes!(content::serve_image))
        .routes(routes!(
            dialects::questionpro::upload,
            dialects::questionpro::list
        ))
        .routes(routes!(
            dialects::questionpro::get,
            dialects::questionpro::delete
        ))
        .routes(routes!(
            dialects::superoffice::put_image,
            dialects::superoffice::get_image,
            dialects::superoffice::delete_image
        ))
        .routes(routes!(dialects::akana::upload))
        .routes(routes!(dialects::akana::get, dialects::akana::crop))
        .routes(routes!(edge::ops::healthz))
        .routes(routes!(edge::ops::readyz))
        .routes(routes!(edge::ops::metrics))
        .routes(routes!(edge::ops::openapi))
        .split_for_parts();
    document_auth_throttle(&mut api);
    // The console's pages are HTML for people, not API operations: routed here with the
    // rest, left out of the OpenAPI document.
    let routes = routes.merge(console_routes());
    match api.to_pretty_json() {
        Ok(json) => {
            let _ = state.openapi.set(json);
        }
        Err(error) => tracing::error!(%error, "the OpenAPI document could not be serialized"),
    }
    // Only what needs the matched route runs per route (axum clones a route's whole
    // layered service for every request): the metrics, which label by route template,
    // and the timeout inside them, so that a 408 is counted. The rest wraps the router
    // once, outside it.
    let routed = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.request,
        ))
        .layer(edge::request_metrics::RecordLayer)
        .with_state(state.clone());
    ServiceBuilder::new()
        .layer(RequestContextLayer)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(edge::cors::layer(&state))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(RequestBodyTimeoutLayer::new(timeouts.body_idle))
        .layer(edge::body_rate::MinRateLayer(timeouts.body_rate))
        .layer(axum::middleware::from_fn_with_state(
            state.auth_throttle.clone(),
            edge::auth_throttle::throttle,
        ))
        .service(routed)
}

/// Every page of the console (see `console`), nested under `/console` with its own
/// fallbacks, so that a wrong console path or method is answered by a page, and with the
/// console's security headers on every answer (extractor refusals included).
fn console_routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    use console::*;
    let env = "/environments/{env}";
    let pages = axum::Router::new()
        .route("/", get(sign_in::home))
        .route("/assets/console.css", get(assets::stylesheet))
        .route("/assets/console.js", get(assets::script))
        .route("/sign-in", get(sign_in::show).post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/environments", get(operator::list).post(operator::create))
        .route(env, get(environment::overview))
        .route(&format!("{env}/upload"), get(environment::upload))
        .route(&format!("{env}/library"), get(library::library))
        .route(&format!("{env}/images/{{id}}"), get(image::detail))
        .route(&format!("{env}/images/{{id}}/delete"), post(image::delete))
        .route(
            &format!("{env}/presets"),
            get(presets::page).post(presets::save),
        )
        .route(
            &format!("{env}/presets/{{name}}/delete"),
            post(presets::delete),
        )
        .route(
            &format!("{env}/keys"),
            get(keys::keys).post(keys::create_key),
        )
        .route(&format!("{env}/keys/{{id}}/revoke"), post(keys::revoke_key))
        .route(
            &format!("{env}/upload-tokens"),
            get(upload_tokens::page).post(upload_tokens::create),
        )
        .route(
            &format!("{env}/upload-tokens/revoke"),
            post(upload_tokens::revoke),
        )
        .route(&format!("{env}/subjects"), get(subjects::list))
        .route(
            &format!("{env}/subjects/{{subject}}"),
            get(subjects::detail),
        )
        .route(
            &format!("{env}/subjects/{{subject}}/erase"),
            post(subjects::erase),
        )
        .route(
            &format!("{env}/webhooks"),
            get(webhooks::page).post(webhooks::create),
        )
        .route(
            &format!("{env}/webhooks/{{id}}/delete"),
            post(webhooks::delete),
        )
        .route(&format!("{env}/audit"), get(audit::page))
        .fallback(console::stray)
        .method_not_allowed_fallback(console::stray)
        .layer(axum::middleware::map_response(console::secure_layer));
    // Browsers ask for /favicon.ico on any page without an icon of its own (a JSON
    // receipt opened from the console, say); a 404 there is a console error.
    let no_icon = || async {
        (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "public, max-age=86400")],
        )
    };
    axum::Router::new()
        .route("/favicon.ico", get(no_icon))
        .nest("/console", pages)
}

async fn not_found() -> NativeError {
    NativeError::from(Error::NotFound("resource"))
}

async fn method_not_allowed() -> Response {
    let id = error::current_request_id();
    let body = serde_json::json!({
        "id": id, "code": "REQUEST_FAILED",
        "message": "This method is not allowed on this resource."
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    NativeError::from(Error::Internal("a handler panicked".into())).into_response()
}
