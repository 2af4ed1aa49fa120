//! The one seam between domain errors and the API dialects the edge speaks: native
//! (PingOne), QuestionPro, SuperOffice and Akana. Each dialect is a type implementing
//! [`Dialect`], and its [`Dialect::answer`] is the one place that dialect maps each error:
//! a match over every [`Error`] variant, with no catch-all arm and no look at status
//! numbers, so that a new variant does not compile until every dialect has decided what
//! it answers. The native answer is [`super::error::classify`], which every other
//! dialect may consult for the shared HTTP meaning.
//!
//! Everything else an error answer needs is the same in every dialect and is done once,
//! by [`DialectError`]: classify the error, take the request id, log it at the level its
//! class deserves, pick the message, let the dialect render its body, and add the
//! `WWW-Authenticate` and `Retry-After` headers its class carries. A dialect that needs
//! something from the request to shape its answer (the path QuestionPro echoes, the
//! `Accept` that asks SuperOffice for XML) is built from it by [`Dialect::of_request`], so
//! handlers and the layers outside them ([`error_in_dialect`]) shape errors alike. Such a
//! handler wraps its work once, with [`in_dialect`]; the native and Akana dialects need
//! nothing from the request, so their handlers simply use `?`.
//!
//! How a dialect accepts credentials is part of it too, and is used by the one
//! credential extractor, [`super::principal::Caller`].

use std::future::Future;

use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::dialects::akana::Akana;
use super::dialects::questionpro::QuestionPro;
use super::dialects::superoffice::SuperOffice;
use super::error::{
    Classified, Native, classify, current_request_id, error_headers, log_error, public_message,
};
use crate::error::Error;

/// An API dialect: how it shapes an error, and where it takes credentials from.
pub trait Dialect: Sized {
    /// What its error body carries beyond the status and the message.
    type Fields;

    /// The dialect as this request asks to be answered in it.
    fn of_request(uri: &Uri, headers: &HeaderMap) -> Self;

    /// The status, message and fields this dialect answers `error` with: one match over
    /// every variant, without a catch-all arm. `classified` is the shared meaning of the
    /// error, which a dialect may follow.
    fn answer(&self, error: &Error, classified: &Classified) -> Answer<Self::Fields>;

    /// The error body, with its content type; the status is set by the caller.
    fn render(
        &self,
        status: StatusCode,
        fields: Self::Fields,
        message: String,
        id: Uuid,
    ) -> Response;

    /// A credential this dialect accepts in the query string; a query that cannot be
    /// read is refused as axum's `Query` refuses it. Only QuestionPro has one (`apiKey`).
    fn query_credential(_uri: &Uri) -> Result<Option<String>, QueryRejection> {
        Ok(None)
    }
}

/// A dialect's answer to one error.
pub struct Answer<F> {
    pub status: StatusCode,
    pub message: Message,
    pub fields: F,
}

/// Which words the client reads.
pub enum Message {
    /// The error's public message ([`public_message`]).
    Public,
    /// The dialect's own words instead.
    Own(&'static str),
    /// The dialect's own words, then the public message.
    Before(&'static str),
}

impl<F> Answer<F> {
    pub fn new(status: StatusCode, message: Message, fields: F) -> Answer<F> {
        Answer {
            status,
            message,
            fields,
        }
    }
}

/// An error to be answered in dialect `D`. Handlers return it; the skeleton of every
/// error answer is its [`IntoResponse`].
#[derive(Debug)]
pub struct DialectError<D> {
    error: Error,
    dialect: D,
}

impl<D: Dialect> DialectError<D> {
    pub fn new(error: Error, dialect: D) -> DialectError<D> {
        DialectError { error, dialect }
    }
}

/// Dialects that need nothing from the request are made from the error alone, so their
/// handlers can use `?` on the service's results.
impl<D: Dialect + Default> From<Error> for DialectError<D> {
    fn from(error: Error) -> Self {
        DialectError::new(error, D::default())
    }
}

impl<D: Dialect> IntoResponse for DialectError<D> {
    fn into_response(self) -> Response {
        let classified = classify(&self.error);
        let id = current_request_id();
        log_error(&self.error, classified.status, id);
        let Answer {
            status,
            message,
            fields,
        } = self.dialect.answer(&self.error, &classified);
        let message = match message {
            Message::Public => public_message(&self.error),
            Message::Own(words) => words.to_string(),
            Message::Before(words) => format!("{words} {}", public_message(&self.error)),
        };
        let mut response = self.dialect.render(status, fields, message, id);
        *response.status_mut() = status;
        error_headers(&mut response, &classified);
        response
    }
}

/// Runs a handler's work, answering its error in `dialect`: the one wrapping a handler
/// of a dialect built from the request needs.
pub async fn in_dialect<D, T>(
    dialect: D,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, DialectError<D>> {
    work.await.map_err(|error| DialectError { error, dialect })
}

/// An error answered outside any handler (by a layer), in the dialect the request's
/// path belongs to.
pub fn error_in_dialect(uri: &Uri, headers: &HeaderMap, error: Error) -> Response {
    fn answer<D: Dialect>(uri: &Uri, headers: &HeaderMap, error: Error) -> Response {
        DialectError::new(error, D::of_request(uri, headers)).into_response()
    }
    let path = uri.path();
    if path == super::console::CONSOLE || path.starts_with("/console/") {
        super::console::error_page(error)
    } else if path.starts_with("/a/api/") {
        answer::<QuestionPro>(uri, headers, error)
    } else if path.starts_with("/api/v1/Person/") {
        answer::<SuperOffice>(uri, headers, error)
    } else if path.starts_with("/api/dropbox/") {
        answer::<Akana>(uri, headers, error)
    } else {
        answer::<Native>(uri, headers, error)
    }
}
