//! Log lines: how they are formatted and how they reach stderr.
//!
//! Every line goes through one [`Sink`]: a request appends its whole line to a shared
//! buffer, and one writer thread writes whatever has gathered with one syscall, then rests
//! for a millisecond so that under load the next lines wait for it instead of waking it
//! once per request. Nothing is dropped: past [`MAX_PENDING`] bytes a caller waits.
//!
//! There are two kinds of lines. Tracing events (warnings, errors, start-up) are formatted
//! by [`LineLayer`], a tracing layer of our own. The access line of each response is
//! written by the HTTP edge through [`access`], which skips tracing's dispatch, spans and
//! field visitors altogether, since it runs for every request: with tracing-subscriber's
//! formatter, a span per request and tracing-appender's channel, logging cost 15–30% of
//! the throughput of serving a small image. Both kinds name the request they were written
//! in ([`REQUEST`], a task-local set by the HTTP edge instead of a tracing span): its id
//! (also the `id` of its error bodies), method, path, and query with credentials redacted.

mod line;

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
pub use line::{RequestLabel, redacted_query};

tokio::task_local! {
    /// The request being handled, for its log lines and error bodies.
    pub static REQUEST: RequestLabel;
}

/// The target of the access line, as a filter names it (`IMAGESTORE_LOG=imagestore::http=warn`
/// turns access lines off and keeps everything else).
const ACCESS_TARGET: &str = "imagestore::http";

/// Bytes of lines waiting for the writer beyond which a caller waits for it to drain.
pub const MAX_PENDING: usize = 4 << 20;

/// How long the writer thread rests after each write.
const PAUSE: Duration = Duration::from_millis(1);

/// A batch buffer larger than this is given back after a burst.
const KEEP_CAPACITY: usize = 256 << 10;

static INSTALLED: OnceLock<Installed> = OnceLock::new();

struct Installed {
    sink: Sink,
    json: bool,
}

/// Lines waiting for the writer thread, shared by every thread that logs.
#[derive(Default)]
pub struct Sink {
    pending: Mutex<Pending>,
    /// The writer waits here while there is nothing to write.
    ready: Condvar,
    /// Callers wait here while [`MAX_PENDING`] bytes are waiting.
    drained: Condvar,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    writer_asleep: bool,
    callers_waiting: usize,
    closed: bool,
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues whole lines. Wakes the writer only if it is asleep, which under load it
    /// rarely is.
    pub fn append(&self, lines: &[u8]) {
        let mut pending = self.lock();
        while pending.lines.len() >= MAX_PENDING && !pending.closed {
            pending.callers_waiting += 1;
            pending = self
                .drained
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
            pending.callers_waiting -= 1;
        }
        pending.lines.extend_from_slice(lines);
        if pending.writer_asleep {
            pending.writer_asleep = false;
            self.ready.notify_one();
        }
    }

    /// The writer thread's loop: takes everything queued, writes it, rests; returns once
    /// [`Sink::close`] was called and nothing is left.
    pub fn run(&self, out: &mut dyn Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pending = self.lock();
                while pending.lines.is_empty() && !pending.closed {
                    pending.writer_asleep = true;
                    pending = self
                        .ready
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                pending.writer_asleep = false;
                if pending.lines.is_empty() {
                    return;
                }
                std::mem::swap(&mut batch, &mut pending.lines);
                if pending.callers_waiting > 0 {
                    self.drained.notify_all();
                }
            }
            // A failing stderr cannot be reported anywhere; the lines are lost, not the
            // process.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            batch.shrink_to(KEEP_CAPACITY);
            std::thread::sleep(PAUSE);
        }
    }

    /// Lets the writer finish: what is queued is still written.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
        self.drained.notify_all();
    }
}

/// Returned by [`init`]: dropping it writes every queued line and stops the writer.
pub struct LogGuard {
    writer: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let (Some(writer), Some(installed)) = (self.writer.take(), INSTALLED.get()) {
            installed.sink.close();
            let _ = writer.join();
        }
    }
}

/// Installs logging for the process: `filter` is `IMAGESTORE_LOG` (a level such as the
/// default `info`, or a target list such as `imagestore=debug,sqlx=warn`). Only the first
/// call installs anything.
pub fn init(format: LogFormat, filter: Option<&str>) -> LogGuard {
    // A plain level is a static filter. Only a filter naming targets or spans needs
    // EnvFilter, which takes a lock on every span enter and exit.
    let (level, targets) = match filter {
        None => (Some(LevelFilter::INFO), None),
        Some(spec) => match spec.trim().parse::<LevelFilter>() {
            Ok(level) => (Some(level), None),
            Err(_) => (
                None,
                Some(EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"))),
            ),
        },
    };
    let json = format == LogFormat::Json;
    let mut first = false;
    let installed = INSTALLED.get_or_init(|| {
        first = true;
        Installed {
            sink: Sink::default(),
            json,
        }
    });
    if !first {
        return LogGuard { writer: None };
    }
    let writer = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(|| {
            if let Some(installed) = INSTALLED.get() {
                installed.sink.run(&mut std::io::stderr());
            }
        })
        .ok();
    let _ = tracing_subscriber::registry()
        .with(level)
        .with(targets)
        .with(LineLayer { installed })
        .try_init();
    LogGuard { writer }
}

/// Writes the access line of a response: `response status=… micros=…` at INFO, in the
/// request's name. Does nothing before [`init`] or when the filter leaves INFO out for
/// [`ACCESS_TARGET`].
pub fn access(request: &RequestLabel, status: u16, micros: u64) {
    let Some(installed) = INSTALLED.get() else {
        return;
    };
    if !tracing::enabled!(target: ACCESS_TARGET, Level::INFO) {
        return;
    }
    line::with_buffer(|buf| {
        let mut line = line::Line::start(
            buf,
            installed.json,
            Level::INFO,
            ACCESS_TARGET,
            Some(request),
        );
        line.message("response");
        line.field_u64("status", u64::from(status));
        line.field_u64("micros", micros);
        line.finish();
        installed.sink.append(buf);
    });
}

/// The tracing layer that turns every event that passes the filter into one line.
struct LineLayer {
    installed: &'static Installed,
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Events bridged from the `log` crate carry their real target and level in
        // `log.*` fields.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let json = self.installed.json;
        line::with_buffer(|buf| {
            let write = |buf: &mut Vec<u8>, request: Option<&RequestLabel>| {
                let mut line =
                    line::Line::start(buf, json, *metadata.level(), metadata.target(), request);
                event.record(&mut line);
                line.finish();
            };
            if REQUEST
                .try_with(|request| write(buf, Some(request)))
                .is_err()
            {
                write(buf, None);
            }
            self.installed.sink.append(buf);
        });
    }
}

#[cfg(test)]
mod tests;
