//! The console: a media library and control panel in the browser, served by the same
//! binary at `/console`. Pages are rendered on the server with maud (every value escaped
//! by the template) and work as plain forms; one small script of our own
//! (`assets/console/console.js`) adds per-file upload progress, copy buttons and the
//! preset preview. Its assets are embedded in the binary, so the console needs no other
//! host and works offline.
//!
//! A console page is a handler like any other: it parses, calls the service, renders. The
//! service decides what the signed-in key may see, as it does for the API; the console
//! never checks scopes itself. Signing in turns a key (environment or operator) into the
//! API's own browser session (`service::sessions`); every state-changing form carries the
//! session's CSRF token and must come from this origin.
//!
//! Every answer carries a strict Content-Security-Policy (no inline script or style, no
//! other origin), `X-Frame-Options: DENY` and `Cache-Control: no-store`.

pub mod assets;
pub mod audit;
pub mod environment;
pub mod image;
pub mod keys;
mod layout;
pub mod library;
pub mod operator;
pub mod presets;
pub mod sign_in;
mod signed;
pub mod subjects;
pub mod upload_tokens;
pub mod webhooks;

pub use signed::{NoFields, Posted, Signed};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;

use crate::error::Error;
use crate::http::error::{classify, log_error, public_message};

/// Where the console lives.
pub const CONSOLE: &str = "/console";

/// The policy every console answer carries. Images may be data URLs (the ThumbHash
/// placeholders); everything else comes from this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers to an answer.
pub fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// [`secure`] as a response mapper, for the console router's layer.
pub async fn secure_layer(response: Response) -> Response {
    secure(response)
}

/// Form actions, the last segment of a path only a form posts to.
const ACTIONS: [&str; 5] = ["delete", "revoke", "erase", "sign-out", "sign"];

/// A console path no route takes with this method. A visit (GET) of a form's action, such
/// as a bookmarked or reloaded answer, goes to the page that holds the form; anything else
/// is a 404 or 405 page.
pub async fn stray(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Response {
    let path = uri.path();
    let mut segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let visit = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if visit && segments.last().is_some_and(|last| ACTIONS.contains(last)) {
        segments.pop();
        // `…/keys/{id}/revoke` is held by `…/keys`, and so on.
        if segments.len() >= 2
            && ["keys", "presets", "webhooks"].contains(&segments[segments.len() - 2])
        {
            segments.pop();
        }
        let parent = segments.join("/");
        let parent = if parent.len() > CONSOLE.len() {
            parent
        } else {
            CONSOLE.to_string()
        };
        return see_other(&parent);
    }
    if visit {
        return error_page(Error::NotFound("page"));
    }
    html(
        StatusCode::METHOD_NOT_ALLOWED,
        layout::bare(
            "Not here",
            maud::html! {
                h1 { "Not here" }
                p.notice.error role="alert" { "This address takes a form's submission, not a visit." }
                p { a href=(CONSOLE) { "Back to the console" } }
            },
        ),
    )
}

/// A rendered page with its status.
pub fn html(status: StatusCode, page: Markup) -> Response {
    let mut response = (status, page.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(response)
}

/// A 303 to another console page (after signing in or out).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure(response)
}

/// What a form's submission came to, shown at the top of the page it re-renders.
pub enum Notice {
    Done(String),
    Failed(String),
}

/// A failed service call, in words a person can act on, logged as the API logs it.
pub fn failure(error: &Error) -> Notice {
    let status = classify(error).status;
    log_error(error, status, crate::http::error::current_request_id());
    Notice::Failed(public_message(error))
}

/// A page that could not be shown: `Failed`, no such environment or image, or storage
/// down (the error in words, with a way back); `Refused`, the signed-in key may not see
/// what the page shows (the page's own frame, with its navigation, says so).
pub enum ConsolePageError {
    Failed(Error),
    Refused(Box<Response>),
}

impl From<Error> for ConsolePageError {
    fn from(error: Error) -> ConsolePageError {
        ConsolePageError::Failed(error)
    }
}

impl IntoResponse for ConsolePageError {
    fn into_response(self) -> Response {
        let error = match self {
            ConsolePageError::Failed(error) => error,
            ConsolePageError::Refused(page) => return *page,
        };
        let classified = classify(&error);
        log_error(
            &error,
            classified.status,
            crate::http::error::current_request_id(),
        );
        let mut response = html(
            classified.status,
            layout::bare(
                "Something went wrong",
                maud::html! {
                    h1 { "Something went wrong" }
                    p.notice.error role="alert" { (public_message(&error)) }
                    p { a href=(CONSOLE) { "Back to the console" } }
                },
            ),
        );
        // Only Retry-After: a WWW-Authenticate would make the browser ask for a password.
        if let Some(seconds) = classified.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// An error a layer answers (the authentication throttle) for a console path: a page,
/// not the API's JSON.
pub fn error_page(error: Error) -> Response {
    ConsolePageError::Failed(error).into_response()
}

/// What console handlers return.
pub type PageResult = Result<Response, ConsolePageError>;
