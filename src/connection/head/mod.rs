//! Request heads: where one ends (`scan`), its request line (`request_line`), the
//! header field rules (`fields`), and decoding with async-h1 (`async_h1`).

mod async_h1;
mod fields;
mod request_line;
mod scan;

pub use async_h1::MAX_FIELD_LINE;
pub use fields::Framing;
pub use scan::{HeadScanner, MAX_HEADER_FIELDS};

use http_types::{Method, Request};

use super::HttpError;
use fields::Field;
use request_line::RequestLine;

/// A decoded and checked request head.
#[derive(Debug)]
pub struct Head {
    /// The request as async-h1 decoded it (its body is empty).
    pub request: Request,
    /// The method, when it is a known one; the request then carries it. Otherwise the
    /// request carries GET in its place, and only 405 or 501 can be answered.
    pub method: Option<Method>,
    /// The method token as sent, for the access log.
    pub method_token: String,
    /// The target was `*` (the request carries `/` in its place).
    pub asterisk: bool,
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
    let fields = lines
        .take_while(|line| !line.is_empty())
        .map(Field::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let controls = fields::check(&fields, line.version)?;
    let request = async_h1::decode(&line, &fields)?;
    Ok(Head {
        request,
        method: line.known_method,
        method_token: String::from_utf8_lossy(line.method).into_owned(),
        asterisk: line.is_asterisk(),
        framing: controls.framing,
        expects_continue: controls.expects_continue,
        wants_close: controls.wants_close,
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// An RFC 9110 `token`: one or more `tchar`.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
