//! Tests of the log sink, the filter and line formatting.

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

use super::line::{Line, with_buffer};
use super::{Installed, LineLayer, MAX_PENDING, REQUEST, RequestLabel, Sink, redacted_query};

fn label(uri: &str) -> RequestLabel {
    RequestLabel {
        id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        method: http::Method::GET,
        uri: uri.parse().unwrap(),
    }
}

/// The access line as `logging::access` writes it.
fn access_line(json: bool, request: &RequestLabel) -> String {
    let mut out = String::new();
    with_buffer(|buf| {
        let mut line = Line::start(
            buf,
            json,
            tracing::Level::INFO,
            "imagestore::http",
            Some(request),
        );
        line.message("response");
        line.field_u64("status", 200);
        line.field_u64("micros", 85);
        line.finish();
        out = String::from_utf8(buf.clone()).unwrap();
    });
    out
}

/// Runs `log` under a subscriber whose only layer is [`LineLayer`] on a sink of its own,
/// and returns what that sink's writer wrote.
fn lines_of(json: bool, log: impl FnOnce()) -> String {
    let installed: &'static Installed = Box::leak(Box::new(Installed {
        sink: Sink::default(),
        json,
    }));
    let subscriber = tracing_subscriber::registry().with(LineLayer { installed });
    tracing::subscriber::with_default(subscriber, log);
    installed.sink.close();
    let mut out = Vec::new();
    installed.sink.run(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn secrets_in_queries_are_redacted() {
    assert_eq!(
        redacted_query("apiKey=abc&limit=5&TOKEN=x&sig"),
        "apiKey=REDACTED&limit=5&TOKEN=REDACTED&sig"
    );
    assert_eq!(redacted_query(""), "");
}

#[test]
fn the_text_access_line_names_the_request_with_its_query_redacted() {
    let line = access_line(false, &label("/a/b?w=256&token=s3cr3t"));
    let shape = regex_lite::Regex::new(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  INFO request\{id=01234567-89ab-cdef-0123-456789abcdef method=GET path=/a/b query=w=256&token=REDACTED\}: imagestore::http: response status=200 micros=85\n$",
    )
    .unwrap();
    assert!(shape.is_match(&line), "{line:?}");
}

#[test]
fn the_json_access_line_is_one_object_with_the_request_as_its_span() {
    let line = access_line(true, &label("/a/%22b%22?signature=abc&q=%5C"));
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["level"], "INFO");
    assert_eq!(value["target"], "imagestore::http");
    assert_eq!(value["fields"]["message"], "response");
    assert_eq!(value["fields"]["status"], 200);
    assert_eq!(value["fields"]["micros"], 85);
    assert_eq!(value["span"]["name"], "request");
    assert_eq!(value["span"]["id"], "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(value["span"]["path"], "/a/%22b%22");
    assert_eq!(value["span"]["query"], "signature=REDACTED&q=%5C");
    let stamp = value["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
}

#[test]
fn events_carry_their_fields_and_the_request_they_happen_in() {
    let text = lines_of(false, || {
        tracing::warn!(key = "a\"b", count = 3, "outside");
        REQUEST.sync_scope(label("/x?apikey=k"), || {
            let error = std::io::Error::other("disk on fire");
            tracing::error!(%error, ok = false, "inside");
        });
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].ends_with(r#" WARN imagestore::logging::tests: outside key="a\"b" count=3"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(
            "ERROR request{id=01234567-89ab-cdef-0123-456789abcdef method=GET path=/x \
             query=apikey=REDACTED}: imagestore::logging::tests: inside error=disk on fire ok=false"
        ),
        "{}",
        lines[1]
    );

    let json = lines_of(true, || {
        REQUEST.sync_scope(label("/y"), || {
            tracing::info!(size = 12.5, name = "n\tm", list = ?[1, 2], "with\nnewline");
        });
    });
    let value: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(value["fields"]["message"], "with\nnewline");
    assert_eq!(value["fields"]["size"], 12.5);
    assert_eq!(value["fields"]["name"], "n\tm");
    assert_eq!(value["fields"]["list"], "[1, 2]");
    assert_eq!(value["span"]["path"], "/y");
    assert!(value["span"].get("query").is_none());
}

#[test]
fn the_sink_keeps_every_line_whole_and_in_order_past_its_bound() {
    let sink = Arc::new(Sink::default());
    let writer = {
        let sink = Arc::clone(&sink);
        std::thread::spawn(move || {
            let mut out = Vec::new();
            sink.run(&mut out);
            out
        })
    };
    // Four threads write more than the bound each, so callers must wait for the writer.
    let line_len = 1000;
    let per_thread = 2 * MAX_PENDING / line_len;
    let callers: Vec<_> = (0..4u8)
        .map(|t| {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let mut line = format!("{t} {i:08} ");
                    line.extend(std::iter::repeat_n('x', line_len - line.len() - 1));
                    line.push('\n');
                    sink.append(line.as_bytes());
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    sink.close();
    let out = String::from_utf8(writer.join().unwrap()).unwrap();
    let mut next = [0usize; 4];
    for line in out.lines() {
        assert_eq!(line.len(), line_len - 1, "a torn line");
        let mut parts = line.split(' ');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(i, next[t], "thread {t}'s lines out of order");
        next[t] += 1;
    }
    assert_eq!(next, [per_thread; 4]);
}
