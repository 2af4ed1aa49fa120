//! Every dialect's answer to every error, pinned byte for byte against
//! `error_answers.golden`: status, headers and body (under a fixed request id), for each
//! `Error` variant in the native, QuestionPro, SuperOffice (JSON and XML) and Akana
//! shapes. The integration tests check these shapes through real requests where a
//! request can provoke them; this table also covers the errors no test request can cause
//! (a failed catalog statement, a full disk), so a change to any dialect's mapping shows
//! up here as a diff of one line.

use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use uuid::Uuid;

use crate::domain::{QuotaMeasure, QuotaScope, Scope};
use crate::error::Error;
use crate::logging::{REQUEST, RequestLabel};

/// One of each `Error` variant, and the cases a dialect treats specially.
fn errors() -> Vec<Error> {
    vec![
        Error::Unauthenticated,
        Error::Forbidden(Scope::ImagesWrite),
        Error::SignatureInvalid("the signature has expired".into()),
        Error::NotFound("image"),
        Error::Conflict("the environment still holds images".into()),
        Error::QuotaExceeded {
            scope: QuotaScope::Subject,
            measure: QuotaMeasure::Images,
            limit: 10,
            usage: 10,
        },
        Error::InvalidInput {
            target: "w",
            message: "w must be between 1 and 8192".into(),
        },
        Error::InvalidInput {
            target: "personId",
            message: "Image bitmap is missing from body or person id is not valid.".into(),
        },
        Error::PayloadTooLarge { limit: 1000 },
        Error::UnsupportedMedia("not an accepted image format".into()),
        Error::MalformedImage("the JPEG is truncated".into()),
        Error::ImageLimit {
            limit: "max_pixels",
            message: "the image has more pixels than allowed".into(),
        },
        Error::BodyIncomplete("the body stopped <early> & \"abruptly\"".into()),
        Error::Throttled {
            retry_after_secs: 7,
        },
        Error::Overloaded {
            retry_after_secs: 3,
        },
        Error::Unavailable {
            engine: "catalog",
            message: "connection refused".into(),
        },
        Error::StorageFull {
            engine: "blob store",
            message: "no space left on device".into(),
        },
        Error::Catalog("no such column: secret_detail".into()),
        Error::Blobs("bucket /srv/private said no".into()),
        Error::Internal("a worker vanished".into()),
    ]
}

/// The requests, one per dialect (and per SuperOffice body form).
fn requests() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        ("native", "/v1/environments/e/images?limit=2", None),
        (
            "questionpro",
            "/a/api/v2/users/42/images?apiKey=isk_secret",
            None,
        ),
        ("superoffice-json", "/api/v1/Person/7/Image", None),
        (
            "superoffice-xml",
            "/api/v1/Person/7/Image",
            Some("text/xml, application/json"),
        ),
        ("akana", "/api/dropbox/pictures/9", None),
    ]
}

async fn table() -> String {
    let id = Uuid::from_u128(0x1234);
    let mut out = String::new();
    for (dialect, path, accept) in requests() {
        let uri: Uri = path.parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        }
        for error in errors() {
            let label = RequestLabel {
                id,
                method: Method::GET,
                uri: uri.clone(),
            };
            let case = format!("{dialect} {}", error.reason());
            let response = REQUEST.sync_scope(label, || {
                super::dialect::error_in_dialect(&uri, &headers, error)
            });
            let mut line = format!("{case}: {}", response.status().as_u16());
            let mut names: Vec<_> = response.headers().keys().map(|n| n.as_str()).collect();
            names.sort();
            for name in names {
                let value = response.headers()[name].to_str().unwrap();
                line.push_str(&format!(" | {name}: {value}"));
            }
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            line.push_str(&format!(
                " | {}\n",
                String::from_utf8(body.to_vec()).unwrap()
            ));
            out.push_str(&line);
        }
    }
    out
}

#[tokio::test]
async fn every_dialect_answers_every_error_as_pinned() {
    let table = table().await;
    // `IMAGESTORE_BLESS=1 cargo test --lib error_answers` rewrites the file after a
    // deliberate change; the diff is then the review.
    if std::env::var_os("IMAGESTORE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/error_answers.golden");
        std::fs::write(path, &table).unwrap();
        return;
    }
    let golden = include_str!("error_answers.golden");
    for (got, want) in table.lines().zip(golden.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(table, golden, "the table has changed length:\n{table}");
}
