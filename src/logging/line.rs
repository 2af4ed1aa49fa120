//! One log line, as text or JSON.
//!
//! Text keeps the shape tracing-subscriber's default formatter gave these lines, with the
//! request where that formatter put its span:
//!
//! ```text
//! 2026-12-01T11:40:33.123456Z  INFO request{id=… method=GET path=/images/…}: imagestore::http: response status=200 micros=85
//! ```
//!
//! JSON is one object a line: `timestamp`, `level`, `fields` (with `message`), `target`,
//! and `span` naming the request (`name` is `"request"`), as tracing's JSON formatter wrote
//! it.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing::field::{Field, Visit};
use uuid::Uuid;

/// What the lines of one request say about it.
#[derive(Debug, Clone)]
pub struct RequestLabel {
    pub id: Uuid,
    pub method: http::Method,
    pub uri: http::Uri,
}

/// Query parameters whose values are credentials, logged as `REDACTED`.
const SECRET_KEYS: [&str; 6] = [
    "apikey",
    "api_key",
    "token",
    "access_token",
    "signature",
    "sig",
];

/// A query with the values of credential parameters replaced by `REDACTED`.
pub fn redacted_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    write_redacted(query, |piece| out.push_str(piece));
    out
}

fn write_redacted(query: &str, mut emit: impl FnMut(&str)) {
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            emit("&");
        }
        match pair.split_once('=') {
            Some((key, _)) if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(key)) => {
                emit(key);
                emit("=REDACTED");
            }
            _ => emit(pair),
        }
    }
}

/// Runs `f` with this thread's line buffer (a fresh one if it is already in use, as when
/// formatting a value logs something itself).
pub(super) fn with_buffer(f: impl FnOnce(&mut Vec<u8>)) {
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    }
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf);
            buf.shrink_to(4096);
        }
        Err(_) => f(&mut Vec::new()),
    });
}

/// A line being written: [`Line::start`], then the message and fields, then
/// [`Line::finish`].
pub(super) struct Line<'a> {
    buf: &'a mut Vec<u8>,
    json: bool,
    target: &'a str,
    request: Option<&'a RequestLabel>,
    fields: usize,
}

impl<'a> Line<'a> {
    /// Text has everything but the fields up front; JSON writes the target and the
    /// request after them.
    pub fn start(
        buf: &'a mut Vec<u8>,
        json: bool,
        level: Level,
        target: &'a str,
        request: Option<&'a RequestLabel>,
    ) -> Line<'a> {
        if json {
            buf.extend_from_slice(b"{\"timestamp\":\"");
            write_timestamp(buf);
            buf.extend_from_slice(b"\",\"level\":\"");
            buf.extend_from_slice(level.as_str().as_bytes());
            buf.extend_from_slice(b"\",\"fields\":{");
        } else {
            write_timestamp(buf);
            let _ = write!(buf, " {:>5} ", level.as_str());
            if let Some(request) = request {
                let _ = write!(
                    buf,
                    "request{{id={} method={} path={}",
                    request.id,
                    request.method,
                    request.uri.path()
                );
                if let Some(query) = request.uri.query().filter(|q| !q.is_empty()) {
                    buf.extend_from_slice(b" query=");
                    write_redacted(query, |piece| buf.extend_from_slice(piece.as_bytes()));
                }
                buf.extend_from_slice(b"}: ");
            }
            buf.extend_from_slice(target.as_bytes());
            buf.extend_from_slice(b": ");
        }
        Line {
            buf,
            json,
            target,
            request,
            fields: 0,
        }
    }

    /// Writes the separator before a field and its name (none for text's message).
    fn name(&mut self, name: &str) {
        if self.json {
            if self.fields > 0 {
                self.buf.push(b',');
            }
            write_json_str(self.buf, name);
            self.buf.push(b':');
        } else {
            if self.fields > 0 {
                self.buf.push(b' ');
            }
            if name != "message" {
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.push(b'=');
            }
        }
        self.fields += 1;
    }

    /// A value written as it displays: bare in text, a string in JSON.
    fn display(&mut self, name: &str, value: &dyn fmt::Display) {
        self.name(name);
        if self.json {
            write_json_display(self.buf, value);
        } else {
            let _ = write!(self.buf, "{value}");
        }
    }

    /// A number or boolean: bare in both.
    fn bare(&mut self, name: &str, value: &dyn fmt::Display) {
        self.name(name);
        let _ = write!(self.buf, "{value}");
    }

    pub fn message(&mut self, text: &str) {
        self.display("message", &text);
    }

    pub fn field_u64(&mut self, name: &str, value: u64) {
        self.bare(name, &value);
    }

    pub fn finish(self) {
        if self.json {
            self.buf.extend_from_slice(b"},\"target\":");
            write_json_str(self.buf, self.target);
            if let Some(request) = self.request {
                let _ = write!(
                    self.buf,
                    ",\"span\":{{\"id\":\"{}\",\"method\":",
                    request.id
                );
                write_json_str(self.buf, request.method.as_str());
                self.buf.extend_from_slice(b",\"path\":");
                write_json_str(self.buf, request.uri.path());
                if let Some(query) = request.uri.query().filter(|q| !q.is_empty()) {
                    self.buf.extend_from_slice(b",\"query\":");
                    write_json_str(self.buf, &redacted_query(query));
                }
                self.buf.extend_from_slice(b",\"name\":\"request\"}");
            }
            self.buf.extend_from_slice(b"}\n");
        } else {
            self.buf.push(b'\n');
        }
    }
}

/// Event fields, as tracing-subscriber's formatters wrote them: in text a string is quoted
/// (Debug) and anything given with `%` or `?` is written as it formats; in JSON numbers
/// and booleans stay bare and the rest become strings. Fields bridged from the `log`
/// crate (`log.target`, `log.file`, …) are left out: the line's target says it.
impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.display(name, &format_args!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        if self.json || name == "message" {
            self.display(name, &value);
        } else {
            self.display(name, &format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.display(field.name(), &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.bare(field.name(), &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.bare(field.name(), &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.bare(field.name(), &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.bare(field.name(), &value);
        } else {
            self.display(field.name(), &value);
        }
    }
}

/// `2026-12-01T11:40:33.123456Z`. The part up to the second is formatted once a second
/// per thread.
fn write_timestamp(buf: &mut Vec<u8>) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            cached.1.clear();
            let at = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            let _ = write!(cached.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = secs;
        }
        buf.extend_from_slice(cached.1.as_bytes());
    });
    let _ = write!(buf, ".{micros:06}Z");
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn write_json_str(buf: &mut Vec<u8>, text: &str) {
    buf.push(b'"');
    let mut clean = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                buf.extend_from_slice(&text.as_bytes()[clean..i]);
                let _ = write!(buf, "\\u{byte:04x}");
                clean = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&text.as_bytes()[clean..i]);
        buf.extend_from_slice(escaped);
        clean = i + 1;
    }
    buf.extend_from_slice(&text.as_bytes()[clean..]);
    buf.push(b'"');
}

/// A value formatted, then written as a JSON string.
fn write_json_display(buf: &mut Vec<u8>, value: &dyn fmt::Display) {
    thread_local! {
        static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut text) => {
            text.clear();
            let _ = write!(text, "{value}");
            write_json_str(buf, &text);
        }
        Err(_) => write_json_str(buf, &value.to_string()),
    });
}
