//! Signing in and out. Signing in turns an API key, typed into a password field, into the
//! API's browser session (the key itself is never stored in the browser); a failed
//! attempt counts against the address as any failed authentication does. Signing out
//! deletes the session's row, so the cookie is dead on every instance at once.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{bare, env_path, show_notice};
use super::signed::{form_body, same_origin};
use super::{
    CONSOLE, ConsolePageError, NoFields, Notice, PageResult, Posted, Signed, html, see_other,
};
use crate::domain::Scope;
use crate::error::Error;
use crate::http::principal::{expired_session_cookie, session_cookie, session_set_cookie};
use crate::http::state::AppState;

fn sign_in_page(notice: Option<&Notice>) -> Markup {
    bare(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(notice) = notice { (show_notice(notice)) }
            form.stack.card method="post" action={ (CONSOLE) "/sign-in" } {
                label for="key" { "API key (an environment key or an operator key)" }
                input #key name="key" type="password" required autocomplete="off"
                    spellcheck="false";
                button type="submit" { "Sign in" }
            }
            p.muted { "The key is exchanged for a session cookie; it is not kept in the browser." }
        },
    )
}

#[derive(Deserialize)]
pub struct SignInQuery {
    ended: Option<String>,
}

/// `GET /console/sign-in`; a browser already signed in goes on to the console.
pub async fn show(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
    request: Request,
) -> Response {
    if let Some(cookie) = session_cookie(request.headers())
        && state.service.current_session(&cookie).await.is_ok()
    {
        return see_other(CONSOLE);
    }
    let notice = query
        .ended
        .map(|_| Notice::Done("You have signed out.".into()));
    html(StatusCode::OK, sign_in_page(notice.as_ref()))
}

/// `POST /console/sign-in`.
pub async fn sign_in(State(state): State<AppState>, request: Request) -> Response {
    let refuse =
        |status: StatusCode, text: String| html(status, sign_in_page(Some(&Notice::Failed(text))));
    let (parts, body) = request.into_parts();
    if !same_origin(&parts.headers, &state.public_url) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This sign-in came from another site, so it was not acted on.".into(),
        );
    }
    if let Some(seconds) = state.auth_throttle.blocked_request(&parts.extensions) {
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins from this address. Try again in {seconds} seconds."),
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let body = match form_body(body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let key = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    if key.is_empty() {
        return refuse(StatusCode::OK, "Enter an API key.".into());
    }
    let principal = match state.service.authenticate(&key).await {
        Ok(principal) => principal,
        Err(Error::Unauthenticated) => {
            state.auth_throttle.failed_request(&parts.extensions);
            // Answered 200, as every refused form is (see `environment::notice_of`);
            // the failure still counts against the address.
            return refuse(
                StatusCode::OK,
                "That key was not accepted: it is unknown, revoked or expired.".into(),
            );
        }
        Err(other) => return ConsolePageError::Failed(other).into_response(),
    };
    // A browser that signs in again leaves its earlier session behind: it ends here.
    if let Some(cookie) = session_cookie(&parts.headers)
        && let Ok(earlier) = state.service.current_session(&cookie).await
        && let Err(error) = state.service.end_session(&earlier.principal, &cookie).await
    {
        tracing::warn!(%error, "an earlier console session was not ended");
    }
    let session = match state.service.create_session(&principal).await {
        Ok(session) => session,
        Err(other) => return ConsolePageError::Failed(other).into_response(),
    };
    let mut response = see_other(CONSOLE);
    if let Ok(value) = HeaderValue::from_str(&session_set_cookie(&state, &session)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /console/sign-out`: ends the session everywhere and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, posted: Posted<NoFields>) -> PageResult {
    let Signed {
        principal, cookie, ..
    } = posted.signed;
    match state.service.end_session(&principal, &cookie).await {
        Ok(()) | Err(Error::Unauthenticated) => {}
        Err(other) => return Err(other.into()),
    }
    let mut response = see_other(&format!("{CONSOLE}/sign-in?ended=1"));
    if let Ok(value) = HeaderValue::from_str(&expired_session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `GET /console`: an environment key's home is its environment's overview (its upload
/// page for a key that may upload but not read), an operator's the list of environments.
pub async fn home(signed: Signed) -> Response {
    let scopes = &signed.principal.scopes;
    let reads = [Scope::ImagesRead, Scope::Admin]
        .iter()
        .any(|scope| scopes.contains(scope));
    match signed.principal.environment_id {
        Some(environment_id) if reads => see_other(&env_path(environment_id, "")),
        Some(environment_id) => see_other(&env_path(environment_id, "/upload")),
        None => see_other(&format!("{CONSOLE}/environments")),
    }
}
