//! Who is using the console: the session its cookie carries ([`Signed`]), and for a form
//! submission that session's CSRF token checked against the form's `csrf` field, the
//! request shown to come from this origin, and the form's fields ([`Posted`]). A browser
//! without a live session is sent to the sign-in page.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::{CONSOLE, ConsolePageError, html, layout, see_other};
use crate::domain::Principal;
use crate::error::Error;
use crate::http::principal::session_cookie;
use crate::http::state::AppState;

/// Largest console form accepted (forms carry names and settings, never images).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A signed-in console user: the principal of the session's key and the session's CSRF
/// token, which every page puts in its forms.
pub struct Signed {
    pub principal: Principal,
    pub csrf: String,
    pub cookie: String,
    /// Where absolute URLs shown on pages start (see `layout::shown_base`).
    pub base: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(see_other(&format!("{CONSOLE}/sign-in")));
        };
        match state.service.current_session(&cookie).await {
            Ok(session) => Ok(Signed {
                principal: session.principal,
                csrf: session.csrf_token,
                cookie,
                base: layout::shown_base(&state.public_url, &parts.headers),
            }),
            Err(Error::Unauthenticated) => Err(see_other(&format!("{CONSOLE}/sign-in"))),
            Err(other) => Err(ConsolePageError::Failed(other).into_response()),
        }
    }
}

/// A form submitted by a signed-in user: `T` is read from the form's fields (unknown
/// fields, such as `csrf`, are ignored).
pub struct Posted<T> {
    pub signed: Signed,
    pub form: T,
    /// Every field as sent, for fields given more than once (checkboxes).
    pub fields: Vec<(String, String)>,
}

impl<T> Posted<T> {
    /// Every value of the field `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

/// A form whose only field is its CSRF token (a button: revoke, delete, sign out).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// Whether a request comes from a page of this origin. Browsers send `Sec-Fetch-Site`
/// (and `Origin` on every POST); a client that sends neither is no browser, and the CSRF
/// token still has to match. Without `Sec-Fetch-Site`, `Origin` must name the host the
/// request was sent to or the deployment's public URL (a proxy may rewrite `Host`).
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let published = public_url.trim_end_matches('/');
    let published = match published.match_indices('/').nth(2) {
        Some((path_start, _)) => &published[..path_start],
        None => published,
    };
    origin == published
        || origin
            .split_once("://")
            .is_some_and(|(_, authority)| !host.is_empty() && authority == host)
}

fn refused(status: StatusCode, message: &str) -> Response {
    html(
        status,
        layout::bare(
            "Not accepted",
            maud::html! {
                h1 { "Not accepted" }
                p.notice.error role="alert" { (message) }
                p { a href=(CONSOLE) { "Back to the console" } }
            },
        ),
    )
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
pub async fn form_body(body: Body) -> Result<axum::body::Bytes, Response> {
    to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form was larger than the console accepts.",
        )
    })
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers, &state.public_url) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "This form was sent from another site, so it was not acted on.",
            ));
        }
        let body = form_body(body).await?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let presented = fields
            .iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(signed.csrf.as_bytes())) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "This form belongs to an earlier session. Reload the page and try again.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&body).map_err(|error| {
            refused(
                StatusCode::BAD_REQUEST,
                &format!("The form could not be read: {error}."),
            )
        })?;
        Ok(Posted {
            signed,
            form,
            fields,
        })
    }
}

/// A form's optional number field: empty is `None`, anything else must parse.
pub fn optional_number<T: std::str::FromStr>(
    target: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, Error> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| Error::InvalidInput {
            target,
            message: format!("{target} must be a whole number"),
        }),
    }
}
