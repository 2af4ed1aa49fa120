//! Filename sanitising, from a multipart `filename` or a `Content-Disposition` header:
//! whatever comes in, what comes out is a single path component of at most 255 bytes
//! with no hidden characters, or nothing.
#![no_main]

use imagestore::domain::{is_hidden_character, sanitize_filename};
use imagestore::http::upload::filename_from_disposition;
use libfuzzer_sys::fuzz_target;

fn check(clean: Option<String>) {
    if let Some(clean) = clean {
        assert!(!clean.is_empty() && clean.len() <= 255, "{clean:?}");
        assert!(!clean.contains(['/', '\\', '"', '<', '>']), "{clean:?}");
        assert!(!clean.chars().any(is_hidden_character), "{clean:?}");
        assert!(!clean.starts_with('.'), "{clean:?}");
    }
}

fuzz_target!(|text: &str| {
    check(sanitize_filename(text));
    check(filename_from_disposition(text));
});
