//! Rendition query parsing: any query string either parses into a transform or is
//! refused with an error naming the parameter; it never panics.
#![no_main]

use imagestore::http::transform_query::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let _ = parse(Some(query));
});
