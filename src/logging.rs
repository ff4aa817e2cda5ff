//! Logging: env_logger, filtered by `RUST_LOG` (default `info`), writing text lines or
//! one JSON object per line to stderr.
//!
//! A JSON line has `ts` (RFC 3339, UTC, milliseconds), `level` and `target`, then
//! the record's key-values as fields (the access log's), or its `message`.
//!
//! Lines reach stderr in batches, as nginx's `access_log ... buffer= flush=` does:
//! one `write` per batch instead of one per request. A batch is written when it
//! reaches [`BATCH_BYTES`], [`FLUSH_INTERVAL`] after its first line, at once for a
//! warning or an error, and at exit ([`flush`]).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use env_logger::fmt::Formatter;
use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::{Level, Log, Metadata, Record};

use crate::config::LogFormat;

/// A batch this large is written at once.
pub const BATCH_BYTES: usize = 32 * 1024;
/// The longest a line waits in a batch.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Starts logging in `format`. Call once, before anything logs.
pub fn init(format: LogFormat) -> Result<(), log::SetLoggerError> {
    let batch = Arc::new(Batch::default());
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.target(env_logger::Target::Pipe(Box::new(BatchWriter(Arc::clone(
        &batch,
    )))));
    if format == LogFormat::Json {
        builder.format(write_json);
    }
    let logger = builder.build();
    log::set_max_level(logger.filter());
    log::set_boxed_logger(Box::new(BatchedLogger {
        inner: logger,
        batch: Arc::clone(&batch),
    }))?;
    // A thread that is asleep unless a batch is waiting.
    let spawned = thread::Builder::new()
        .name("smol-toy-log".into())
        .spawn(move || batch.write_when_due());
    if spawned.is_err() {
        log::logger().flush();
    }
    Ok(())
}

/// Writes whatever is waiting to be logged; call before exiting.
pub fn flush() {
    log::logger().flush();
}

/// env_logger, with its lines gathered in a batch.
struct BatchedLogger {
    inner: env_logger::Logger,
    batch: Arc<Batch>,
}

impl Log for BatchedLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        self.inner.log(record);
        if record.level() <= Level::Warn {
            self.batch.write_now();
        }
    }

    fn flush(&self) {
        self.batch.write_now();
    }
}

/// Lines waiting for stderr, and a signal for the thread that writes them.
#[derive(Default)]
struct Batch {
    lines: Mutex<Vec<u8>>,
    started: Condvar,
}

impl Batch {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, bytes: &[u8]) {
        let mut lines = self.lock();
        let was_empty = lines.is_empty();
        lines.extend_from_slice(bytes);
        if lines.len() >= BATCH_BYTES {
            write_out(&mut lines);
        } else if was_empty {
            self.started.notify_one();
        }
    }

    fn write_now(&self) {
        write_out(&mut self.lock());
    }

    /// Runs forever: waits for a batch to start, lets it fill for the interval, and
    /// writes it.
    fn write_when_due(&self) {
        loop {
            let lines = self.lock();
            let lines = self
                .started
                .wait_while(lines, |lines| lines.is_empty())
                .unwrap_or_else(PoisonError::into_inner);
            drop(lines);
            thread::sleep(FLUSH_INTERVAL);
            self.write_now();
        }
    }
}

/// Writes the lines to stderr and empties the batch. A failed write (stderr closed)
/// drops them: there is nowhere else to say so.
fn write_out(lines: &mut Vec<u8>) {
    if !lines.is_empty() {
        let _ = io::stderr().lock().write_all(lines);
        lines.clear();
    }
}

/// What env_logger writes to: the batch.
struct BatchWriter(Arc<Batch>);

impl Write for BatchWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    /// env_logger flushes after every line; the batch decides when lines leave.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `record` as one line of JSON.
pub fn write_json(out: &mut Formatter, record: &Record<'_>) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    write!(
        line,
        r#"{{"ts":"{}","level":"{}","target":"#,
        out.timestamp_millis(),
        record.level()
    )?;
    json_string(&mut line, record.target())?;
    let mut fields = JsonFields { line, count: 0 };
    record
        .key_values()
        .visit(&mut fields)
        .map_err(io::Error::other)?;
    let JsonFields { mut line, count } = fields;
    if count == 0 {
        line.extend_from_slice(br#","message":"#);
        json_string(&mut line, &record.args().to_string())?;
    }
    line.extend_from_slice(b"}\n");
    out.write_all(&line)
}

/// Writes `text` as a JSON string: quotes, backslashes and control characters
/// escaped, so that no value can end the line or the object.
fn json_string(line: &mut Vec<u8>, text: &str) -> io::Result<()> {
    serde_json::to_writer(line, text).map_err(io::Error::other)
}

/// Appends key-values as JSON fields.
struct JsonFields {
    line: Vec<u8>,
    count: usize,
}

impl<'kvs> VisitSource<'kvs> for JsonFields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        self.line.push(b',');
        json_string(&mut self.line, key.as_str())?;
        self.line.push(b':');
        self.count += 1;
        value.visit(JsonValue(&mut self.line))
    }
}

/// Writes one value: numbers and booleans as themselves, nothing as `null`, anything
/// else as a string.
struct JsonValue<'a>(&'a mut Vec<u8>);

impl<'v> VisitValue<'v> for JsonValue<'_> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        Ok(json_string(self.0, &value.to_string())?)
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        Ok(write!(self.0, "{value}")?)
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        Ok(write!(self.0, "{value}")?)
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        match serde_json::Number::from_f64(value) {
            Some(number) => Ok(write!(self.0, "{number}")?),
            None => self.visit_null(),
        }
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        Ok(write!(self.0, "{value}")?)
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        Ok(json_string(self.0, value)?)
    }
}
