//! Logging: env_logger, filtered by `RUST_LOG` (default `info`), writing text lines or
//! one JSON object per line to stderr.
//!
//! A JSON line has `ts` (RFC 3339, UTC, milliseconds), `level` and `target`, then
//! the record's key-values as fields (the access log's), or its `message`.
//!
//! Lines reach stderr through [`sink`]: a bounded buffer that one thread writes out
//! in batches, so that a stalled reader of stderr never stops a worker thread. A
//! panic's message is logged the same way, rather than written to stderr by the
//! panicking thread.

mod json;
pub mod sink;

use std::io::{self, Write};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use log::{Level, Log, Metadata, Record};

pub use json::write_json;
pub use sink::dropped_lines;
use sink::{EXIT_GRACE, Sink, Stall};

/// The sink of the logger [`init`] started: one per process, as the logger is.
static SINK: OnceLock<Sink> = OnceLock::new();

/// Starts logging, in JSON lines if `json`, else in text lines. Call once, before
/// anything logs.
pub fn init(json: bool) -> io::Result<()> {
    let sink: &'static Sink = SINK.get_or_init(Sink::default);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.target(env_logger::Target::Pipe(Box::new(SinkWriter(sink))));
    if json {
        builder.format(write_json);
    }
    let logger = builder.build();
    thread::Builder::new()
        .name("smol-toy-log".into())
        .spawn(move || sink.write_batches(write_stderr, warn_of_stall))?;
    log::set_max_level(logger.filter());
    log::set_boxed_logger(Box::new(SinkLogger {
        inner: logger,
        sink,
    }))
    .map_err(io::Error::other)?;
    std::panic::set_hook(Box::new(log_panic));
    Ok(())
}

/// Gives the lines still waiting up to a second to reach stderr; call before exiting.
pub fn flush() {
    if let Some(sink) = SINK.get() {
        sink.flush(EXIT_GRACE);
    }
}

/// One write to stderr's descriptor. Not through `std::io::stderr()`, whose lock a
/// blocked write would hold against every other writer.
fn write_stderr(bytes: &[u8]) -> io::Result<usize> {
    Ok(rustix::io::write(rustix::stdio::stderr(), bytes)?)
}

/// Says how many lines a stalled sink cost, once it takes lines again.
fn warn_of_stall(stall: Stall) {
    let span = stall.last.duration_since(stall.first).unwrap_or_default();
    log::warn!(
        "the log sink was stalled: {} line(s) dropped from {} to {} ({})",
        stall.lines,
        humantime::format_rfc3339_millis(stall.first),
        humantime::format_rfc3339_millis(stall.last),
        humantime::format_duration(Duration::from_millis(span.as_millis() as u64)),
    );
}

/// The panic hook: the panic's message as an error line. The main thread's panic
/// ends the process, so its line is flushed first.
fn log_panic(panic: &std::panic::PanicHookInfo<'_>) {
    let thread = thread::current();
    let name = thread.name().unwrap_or("unnamed");
    log::error!(target: "panic", "thread '{name}' {panic}");
    if name == "main" {
        flush();
    }
}

/// env_logger, with its lines going to the sink.
struct SinkLogger {
    inner: env_logger::Logger,
    sink: &'static Sink,
}

impl Log for SinkLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        self.inner.log(record);
        if record.level() <= Level::Warn {
            self.sink.hurry();
        }
    }

    /// Asks for the waiting lines without waiting for them; [`flush`] waits.
    fn flush(&self) {
        self.sink.hurry();
    }
}

/// What env_logger writes to: one whole line per call.
struct SinkWriter(&'static Sink);

impl Write for SinkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    /// env_logger flushes after every line; the sink decides when lines leave.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
