//! Request heads: where one ends (`scan`), its request line (`request_line`), the
//! header field rules (`fields`), and decoding with async-h1 (`async_h1`).

mod async_h1;
mod fields;
mod request_line;
mod scan;

#[cfg(any(test, feature = "testing"))]
pub use async_h1::MAX_FIELD_LINE;
pub use fields::Framing;
pub use scan::HeadScanner;
use scan::trim_cr;

use crate::exchange::refusal::HttpError;
use crate::exchange::{ReadRequest, RequestId, RequestMethod};
use fields::{Field, FieldKind, Occurrences};
use request_line::RequestLine;

/// A decoded and checked request head.
#[derive(Debug)]
pub struct Head {
    /// The request as async-h1 decoded it, with its method, its target and its id.
    pub read: ReadRequest,
    /// How the body is delimited.
    pub framing: Framing,
    /// The client sent `Expect: 100-continue`.
    pub expects_continue: bool,
    /// The client asked to close the connection, or (HTTP/1.0) did not ask to keep it.
    pub wants_close: bool,
}

/// Decodes and checks a complete head, as `HeadScanner` delimited it.
pub fn decode_head(head: &[u8]) -> Result<Head, HttpError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(trim_cr)
        .skip_while(|line| line.is_empty());
    let line = RequestLine::parse(lines.next().unwrap_or_default())?;
    // Room for the fields of most requests without growing.
    let mut fields = Vec::with_capacity(16);
    for line in lines.take_while(|line| !line.is_empty()) {
        fields.push(Field::parse(line)?);
    }
    let controls = fields::check(&fields, line.version)?;
    let request_id = request_id(&fields);
    let request = async_h1::decode(&line, &fields)?;
    let read = ReadRequest {
        request,
        method: match line.known_method {
            Some(known) => RequestMethod::Known(known),
            None => RequestMethod::Unknown(String::from_utf8_lossy(line.method).into_owned()),
        },
        asterisk: line.is_asterisk(),
        request_id,
    };
    Ok(Head {
        read,
        framing: controls.framing,
        expects_continue: controls.expects_continue,
        wants_close: controls.wants_close,
    })
}

/// The client's request id, if it sent exactly one usable `X-Request-Id`, else a
/// fresh one.
fn request_id(fields: &[Field<'_>]) -> RequestId {
    match fields::occurrences(fields, FieldKind::RequestId) {
        Occurrences::One(id) => RequestId::from_client(id.value),
        Occurrences::None | Occurrences::Many => None,
    }
    .unwrap_or_else(RequestId::generate)
}
