//! Writing a record as one line of JSON.

use std::io::{self, Write};

use env_logger::fmt::Formatter;
use log::Record;
use log::kv::{self, Key, Value, VisitSource, VisitValue};

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
