//! Header fields for any protocol: the token rule, what a value may hold to be
//! written, how a value with bytes 0x80-0xFF is handed to http-types, and the fields
//! every answer carries besides the response's own (`X-Request-Id`, the
//! application's fields, `Strict-Transport-Security` over HTTPS, `Alt-Svc` naming
//! HTTP/3 over HTTPS on TCP, `Date`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use http_types::StatusCode;

use super::request_id::RequestId;
use crate::handler::ResponseField;

/// The name of the field that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The fields every answer carries besides the response's own.
#[derive(Debug, Clone, Copy)]
pub struct AnswerFields<'a> {
    /// The request's id, for `X-Request-Id`.
    pub request_id: &'a RequestId,
    /// The fields the application puts on every answer.
    pub every_answer: &'static [ResponseField],
    /// The `Strict-Transport-Security` value, over HTTPS.
    pub hsts: Option<&'a str>,
    /// The `Alt-Svc` value that names HTTP/3, over HTTPS on TCP.
    pub alt_svc: Option<&'a str>,
}

/// Where a protocol writes a response's fields.
pub trait FieldSink {
    /// Why a field cannot be written.
    type Error;

    /// Writes one field. A protocol marks its `#[inline(always)]`, so that the
    /// names [`AnswerFields::write_each`] passes are constants where they are
    /// written.
    fn field(&mut self, name: &str, value: &str) -> Result<(), Self::Error>;
}

impl AnswerFields<'_> {
    /// Writes each field into `sink`, in order: the application's,
    /// `Strict-Transport-Security` and `Alt-Svc` over HTTPS, `Date`, and
    /// `X-Request-Id` last.
    /// Stops at the first error.
    #[inline(always)]
    pub fn write_each<S: FieldSink>(&self, sink: &mut S) -> Result<(), S::Error> {
        for (name, value) in self.every_answer {
            sink.field(name, value)?;
        }
        if let Some(hsts) = self.hsts {
            sink.field("strict-transport-security", hsts)?;
        }
        if let Some(alt_svc) = self.alt_svc {
            sink.field("alt-svc", alt_svc)?;
        }
        with_current_date(|date| sink.field("date", date))?;
        sink.field(REQUEST_ID, self.request_id.as_str())
    }
}

/// Whether the server sets the field itself on every answer, whatever the
/// response says: the framing (`Content-Length`, `Transfer-Encoding`,
/// `Connection`), `Date` and `X-Request-Id`. A response's own field of these names
/// is not sent.
pub fn is_set_by_server(name: &str) -> bool {
    matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "date" | REQUEST_ID
    )
}

/// Whether a response with `status` carries no content (RFC 9110 §6.4.1): 1xx,
/// 204 and 304. Its body is not sent, and it says no `Content-Length`. The answer
/// to HEAD says one, and sends no body either.
pub fn has_no_content(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NoContent
        || status == StatusCode::NotModified
}

/// A field value as http-types can hold it (visible ASCII only; it panics on
/// others): as sent when it is ASCII; otherwise with each byte 0x80-0xFF written as
/// `\xHH`, and each backslash doubled, so that the original bytes can be told
/// apart. Only a field smol-toy does not read may carry such bytes (RFC 9110 §5.5
/// `obs-text`, which it treats as opaque).
pub fn opaque_value(value: &[u8]) -> Cow<'_, str> {
    if let Ok(ascii) = std::str::from_utf8(value)
        && value.is_ascii()
    {
        return Cow::Borrowed(ascii);
    }
    let mut escaped = String::with_capacity(value.len() * 2);
    for &byte in value {
        match byte {
            b'\\' => escaped.push_str("\\\\"),
            0x80.. => {
                let _ = write!(escaped, "\\x{byte:02x}");
            }
            _ => escaped.push(char::from(byte)),
        }
    }
    Cow::Owned(escaped)
}

/// Whether a field can be written as it is: its name is a token, and its value holds
/// only visible ASCII, spaces and tabs (RFC 9110 §5.5, without obs-text), so no CR,
/// LF or NUL can end it early.
pub fn is_writable(name: &str, value: &str) -> bool {
    is_token(name.as_bytes())
        && value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}

/// Calls `write` with the `Date` value for the current second. Each thread formats
/// it once a second rather than for every response.
pub fn with_current_date<T>(write: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with_borrow_mut(|(at, date)| {
        if *at != second {
            *at = second;
            *date = httpdate::fmt_http_date(now);
        }
        write(date)
    })
}

/// An RFC 9110 `token`: one or more `tchar`.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| TCHAR[usize::from(b)])
}

/// RFC 9110 `tchar`, by byte: letters, digits and ``!#$%&'*+-.^_`|~``.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_and_visible_values_are_writable() {
        assert!(is_writable("cache-control", "no-store, max-age=0"));
        assert!(is_writable("x-tab", "a\tb"));
        for (name, value) in [("bad name", "v"), ("", "v"), ("x", "a\0b"), ("x", "a\nb")] {
            assert!(!is_writable(name, value), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn opaque_bytes_are_escaped_and_ascii_is_kept() {
        assert!(matches!(opaque_value(b"plain \\ text"), Cow::Borrowed(_)));
        assert_eq!(opaque_value(b"M\xc3\xb6zilla"), r"M\xc3\xb6zilla");
        assert_eq!(opaque_value(b"caf\xe9 \\x"), r"caf\xe9 \\x");
        assert!(is_writable("x", &opaque_value(b"\x80\xff")));
    }
}
