//! Multipart framing: arbitrary bytes as a `multipart/form-data` body with a fixed
//! boundary, read the way every dialect reads an upload (text fields, then one file part,
//! then nothing). Any outcome but a panic is fine: an upload or a clear error.
#![no_main]

use axum::body::Body;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, header};
use imagestore::http::upload::read_upload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
    );
    let body = Body::from(data.to_vec());
    runtime.block_on(async {
        if let Ok(mut upload) = read_upload(&headers, body, 1 << 20).await {
            while let Some(chunk) = upload.body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        }
    });
});
