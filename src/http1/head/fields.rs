//! The header field rules of RFC 9112 that decide how an HTTP/1 request is read
//! and answered: field line syntax, `Host`, `Content-Length`, `Transfer-Encoding`,
//! `Connection` and `Expect`. They work on the head's bytes, before and without
//! async-h1. What a value may hold, and what a valid host is, are every protocol's
//! rules (`crate::exchange::field_rules`).

use http_types::Version;

pub use crate::exchange::field_rules::FieldKind;
use crate::exchange::field_rules::{check_value, expectation, is_valid_host};
use crate::exchange::fields::is_token;
use crate::exchange::refusal::{HttpError, Refusal};

/// One header field line, split at its first colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The whole line, without its line end.
    pub line: &'a [u8],
    /// The field name as sent.
    pub name: &'a [u8],
    /// Which of the fields these rules read it is, if any.
    pub kind: FieldKind,
    /// The value without the white space around it.
    pub value: &'a [u8],
    /// The value (and so the line) is all ASCII: no bytes 0x80-0xFF.
    pub ascii: bool,
}

impl<'a> Field<'a> {
    /// Splits and checks a field line (RFC 9112 §5): the name is a token, with no
    /// white space before the colon (which also refuses obs-fold), and the value
    /// holds no control bytes other than tabs (RFC 9110 §5.5), and only ASCII in a
    /// field smol-toy reads.
    pub fn parse(line: &'a [u8]) -> Result<Self, HttpError> {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| HttpError::bad_request("a header line without a colon"))?;
        let name = &line[..colon];
        if !is_token(name) {
            return Err(HttpError::bad_request("malformed header field name"));
        }
        let value = line[colon + 1..].trim_ascii();
        let kind = FieldKind::of(name);
        let ascii = check_value(name, kind, value)?;
        Ok(Field {
            line,
            name,
            kind,
            value,
            ascii,
        })
    }

    /// Whether the field is of `kind`.
    pub fn is(&self, kind: FieldKind) -> bool {
        self.kind == kind
    }

    /// The items of a comma-separated list value, trimmed.
    fn items(&self) -> impl Iterator<Item = &'a [u8]> {
        self.value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
    }
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// A body of this many bytes (Content-Length).
    Length(u64),
    /// A chunked body (Transfer-Encoding: chunked).
    Chunked,
}

/// What the header fields say about reading and answering the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// How the body is delimited.
    pub framing: Framing,
    /// The client sent `Expect: 100-continue`.
    pub expects_continue: bool,
    /// The client asked to close the connection, or (HTTP/1.0) did not ask to keep it.
    pub wants_close: bool,
}

/// Applies the rules to a request's fields.
pub fn check(fields: &[Field<'_>], version: Version) -> Result<Controls, HttpError> {
    check_host(fields, version)?;
    let framing = framing(fields, version)?;
    let expects_continue = expects_continue(fields)?;
    let options = ConnectionOptions::of(fields);
    Ok(Controls {
        framing,
        expects_continue,
        wants_close: options.close || (version == Version::Http1_0 && !options.keep_alive),
    })
}

/// How often a field that may appear at most once appears.
pub enum Occurrences<'f, 'a> {
    None,
    One(&'f Field<'a>),
    Many,
}

/// How often a field of `kind` appears among `fields`.
pub fn occurrences<'f, 'a>(fields: &'f [Field<'a>], kind: FieldKind) -> Occurrences<'f, 'a> {
    let mut found = fields.iter().filter(|field| field.is(kind));
    match (found.next(), found.next()) {
        (None, _) => Occurrences::None,
        (Some(field), None) => Occurrences::One(field),
        (Some(_), Some(_)) => Occurrences::Many,
    }
}

/// RFC 9112 §3.2: exactly one valid Host on HTTP/1.1, at most one on HTTP/1.0.
fn check_host(fields: &[Field<'_>], version: Version) -> Result<(), HttpError> {
    match occurrences(fields, FieldKind::Host) {
        Occurrences::None if version == Version::Http1_0 => Ok(()),
        Occurrences::None => Err(HttpError::bad_request("the Host header is missing")),
        Occurrences::One(host) if is_valid_host(host.value) => Ok(()),
        Occurrences::One(_) => Err(HttpError::bad_request(
            "the Host header is not a valid host",
        )),
        Occurrences::Many => Err(HttpError::bad_request("more than one Host header")),
    }
}

/// Works out how the body is delimited, refusing what RFC 9112 §6 says to refuse.
fn framing(fields: &[Field<'_>], version: Version) -> Result<Framing, HttpError> {
    let length = content_length(fields)?;
    let mut codings = fields
        .iter()
        .filter(|field| field.is(FieldKind::TransferEncoding))
        .flat_map(Field::items)
        .peekable();
    if codings.peek().is_none() {
        return Ok(length.map_or(Framing::Empty, Framing::Length));
    }
    if version == Version::Http1_0 {
        return Err(HttpError::bad_request(
            "Transfer-Encoding in an HTTP/1.0 request",
        ));
    }
    if length.is_some() {
        return Err(HttpError::bad_request(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let codings: Vec<&[u8]> = codings.collect();
    let chunked = |coding: &&[u8]| coding.eq_ignore_ascii_case(b"chunked");
    // RFC 9112 §6.3: chunked must be applied once, as the final coding.
    match codings.iter().filter(|coding| chunked(coding)).count() {
        0 => Err(not_implemented_coding()),
        1 if codings.last().is_some_and(chunked) => match codings.len() {
            1 => Ok(Framing::Chunked),
            _ => Err(not_implemented_coding()),
        },
        _ => Err(HttpError::bad_request(
            "chunked must be the final transfer coding, applied once",
        )),
    }
}

fn not_implemented_coding() -> HttpError {
    HttpError::new(
        Refusal::UnknownTransferCoding,
        "the only transfer coding supported is chunked",
    )
}

/// Every Content-Length value, comma lists included, must be the same number.
fn content_length(fields: &[Field<'_>]) -> Result<Option<u64>, HttpError> {
    let mut length = None;
    for field in fields
        .iter()
        .filter(|field| field.is(FieldKind::ContentLength))
    {
        for item in field.items() {
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::bad_request("invalid Content-Length"));
            }
            let parsed: u64 = std::str::from_utf8(item)
                .ok()
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| HttpError::bad_request("Content-Length is too large"))?;
            if length
                .replace(parsed)
                .is_some_and(|earlier| earlier != parsed)
            {
                return Err(HttpError::bad_request("conflicting Content-Length values"));
            }
        }
    }
    Ok(length)
}

/// `Expect`: every protocol's rule (`field_rules::expectation`).
fn expects_continue(fields: &[Field<'_>]) -> Result<bool, HttpError> {
    let values = (fields.iter())
        .filter(|field| field.is(FieldKind::Expect))
        .map(|field| field.value);
    Ok(expectation(values)?)
}

/// The options of the `Connection` header that matter here.
#[derive(Debug, Default)]
struct ConnectionOptions {
    close: bool,
    keep_alive: bool,
}

impl ConnectionOptions {
    fn of(fields: &[Field<'_>]) -> Self {
        let mut options = ConnectionOptions::default();
        for option in fields
            .iter()
            .filter(|field| field.is(FieldKind::Connection))
            .flat_map(Field::items)
        {
            options.close |= option.eq_ignore_ascii_case(b"close");
            options.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::StatusCode;

    /// The controls of a head's field lines (`\r\n`-separated), on HTTP/1.1.
    fn controls(lines: &str) -> Result<Controls, HttpError> {
        controls_on(lines, Version::Http1_1)
    }

    fn controls_on(lines: &str, version: Version) -> Result<Controls, HttpError> {
        let fields = lines
            .split("\r\n")
            .map(|line| Field::parse(line.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        check(&fields, version)
    }

    fn status(lines: &str) -> u16 {
        controls(lines).map_or_else(|error| error.status().into(), |_| 200)
    }

    #[test]
    fn field_syntax() {
        let field = Field::parse(b"hOsT: \t a b \t").unwrap();
        assert_eq!((field.name, field.value), (&b"hOsT"[..], &b"a b"[..]));
        assert_eq!(field.kind, FieldKind::Host);
        let other = Field::parse(b"Hosts: x").unwrap();
        assert_eq!(other.kind, FieldKind::Other);
        assert_eq!(
            Field::parse(b"TRANSFER-encoding: x").unwrap().kind,
            FieldKind::TransferEncoding
        );
        for bad in [
            &b"Oops"[..],
            b"Host : t",
            b": x",
            b" folded: x",
            b"X-A: a\x00b",
            b"X-A: a\rb",
            b"X-A: a\x7fb",
        ] {
            assert_eq!(
                Field::parse(bad).unwrap_err().status(),
                StatusCode::BadRequest,
                "{bad:?}"
            );
        }
        assert!(
            Field::parse("X-A: caf\u{e9}".as_bytes()).is_ok(),
            "obs-text"
        );
    }

    #[test]
    fn host() {
        assert_eq!(status("Host: t"), 200);
        assert_eq!(status("X: y"), 400);
        assert_eq!(status("Host: a\r\nHost: a"), 400);
        assert!(controls_on("X: y", Version::Http1_0).is_ok());
        assert!(controls_on("Host: a\r\nHost: b", Version::Http1_0).is_err());
    }

    #[test]
    fn content_length() {
        let framing = |lines: &str| controls(lines).map(|c| c.framing);
        assert_eq!(framing("Host: t"), Ok(Framing::Empty));
        assert_eq!(
            framing("Host: t\r\nContent-Length: 5"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing("Host: t\r\nContent-Length: 2\r\ncontent-length: 2, 2"),
            Ok(Framing::Length(2))
        );
        for bad in ["abc", "-1", "+5", "", "1, 2", "99999999999999999999999"] {
            assert_eq!(status(&format!("Host: t\r\nContent-Length: {bad}")), 400);
        }
        assert_eq!(
            status("Host: t\r\nContent-Length: 1\r\nContent-Length: 2"),
            400
        );
    }

    #[test]
    fn transfer_encoding() {
        assert_eq!(
            controls("Host: t\r\nTransfer-Encoding: Chunked").map(|c| c.framing),
            Ok(Framing::Chunked)
        );
        assert_eq!(status("Host: t\r\nTransfer-Encoding: gzip"), 501);
        assert_eq!(status("Host: t\r\nTransfer-Encoding: gzip, chunked"), 501);
        assert_eq!(status("Host: t\r\nTransfer-Encoding: chunked, gzip"), 400);
        assert_eq!(
            status("Host: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
            400
        );
        assert_eq!(
            status("Host: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"),
            400
        );
        let on_http10 = controls_on("Transfer-Encoding: chunked", Version::Http1_0);
        assert_eq!(on_http10.unwrap_err().status(), StatusCode::BadRequest);
    }

    #[test]
    fn expect() {
        assert!(!controls("Host: t").unwrap().expects_continue);
        assert!(
            controls("Host: t\r\nExpect: 100-Continue")
                .unwrap()
                .expects_continue
        );
        assert_eq!(status("Host: t\r\nExpect: 200-ok"), 417);
        assert_eq!(
            status("Host: t\r\nExpect: 100-continue\r\nExpect: 100-continue"),
            400
        );
    }

    #[test]
    fn connection_close_and_http_1_0_keep_alive() {
        let wants_close = |lines: &str, version| controls_on(lines, version).unwrap().wants_close;
        assert!(!wants_close("Host: t", Version::Http1_1));
        assert!(wants_close(
            "Host: t\r\nConnection: foo, Close",
            Version::Http1_1
        ));
        assert!(wants_close("Host: t", Version::Http1_0));
        assert!(!wants_close("Connection: Keep-Alive", Version::Http1_0));
        assert!(wants_close(
            "Connection: keep-alive, close",
            Version::Http1_0
        ));
    }
}
