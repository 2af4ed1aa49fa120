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

/// A page that could not be shown at all (no such environment or image, storage down):
/// the error in words, with a way back.
pub struct ConsolePageError(pub Error);

impl From<Error> for ConsolePageError {
    fn from(error: Error) -> ConsolePageError {
        ConsolePageError(error)
    }
}

impl IntoResponse for ConsolePageError {
    fn into_response(self) -> Response {
        let classified = classify(&self.0);
        log_error(
            &self.0,
            classified.status,
            crate::http::error::current_request_id(),
        );
        html(
            classified.status,
            layout::bare(
                "Something went wrong",
                maud::html! {
                    h1 { "Something went wrong" }
                    p.notice.error role="alert" { (public_message(&self.0)) }
                    p { a href=(CONSOLE) { "Back to the console" } }
                },
            ),
        )
    }
}

/// An error a layer answers (the authentication throttle) for a console path: a page,
/// not the API's JSON.
pub fn error_page(error: Error) -> Response {
    ConsolePageError(error).into_response()
}

/// What console handlers return.
pub type PageResult = Result<Response, ConsolePageError>;
