//! What every protocol asks of a response before it sends it: fields it can write,
//! and a body held in memory.

use std::fmt;

use http_types::Response;
use smol::io::AsyncReadExt;

use crate::memory::finish_in_memory;

/// Why a response cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsendable {
    /// A field name is not a token, or a value holds a byte other than visible
    /// ASCII, space and tab: its name.
    Field(String),
    /// The body is not held in memory.
    StreamingBody,
}

impl fmt::Display for Unsendable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsendable::Field(name) => write!(f, "the field {name:?} cannot be written"),
            Unsendable::StreamingBody => f.write_str("the body is not held in memory"),
        }
    }
}

/// Appends the body to `out`. The body is in memory, so one poll finishes.
pub fn read_body(response: &mut Response, out: &mut Vec<u8>) -> Result<(), Unsendable> {
    match finish_in_memory(response.read_to_end(out)) {
        Some(Ok(_)) => Ok(()),
        Some(Err(_)) | None => Err(Unsendable::StreamingBody),
    }
}
