//! The rules every protocol applies to a request's header fields, from one place:
//! which fields smol-toy reads, what a value may hold (no control characters; only
//! ASCII in a field smol-toy reads), and what a valid host is (`Host`, and HTTP/2's
//! `:authority`). HTTP/1 applies them to the lines of a head; HTTP/2 to the pairs
//! HPACK decoded.
//!
//! A value may carry bytes 0x80-0xFF (RFC 9110 §5.5 `obs-text`), as nginx, hyper
//! and Go allow, except in the fields smol-toy reads ([`FieldKind::is_read`]).

use std::fmt;

/// The fields that decide how a request is read and answered, or that smol-toy
/// reads for its own use. Names are case-insensitive, so each is compared once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    RequestId,
    /// `TE`, the transfer codings the client accepts in a response.
    Te,
    ForwardedFor,
    RealIp,
    Other,
}

impl FieldKind {
    /// Which field `name` is, whatever its case.
    pub fn of(name: &[u8]) -> Self {
        let (kind, spelled) = match name.len() {
            2 => (FieldKind::Te, &b"te"[..]),
            4 => (FieldKind::Host, &b"host"[..]),
            6 => (FieldKind::Expect, &b"expect"[..]),
            9 => (FieldKind::RealIp, &b"x-real-ip"[..]),
            10 => (FieldKind::Connection, &b"connection"[..]),
            12 => (FieldKind::RequestId, &b"x-request-id"[..]),
            14 => (FieldKind::ContentLength, &b"content-length"[..]),
            15 => (FieldKind::ForwardedFor, &b"x-forwarded-for"[..]),
            17 => (FieldKind::TransferEncoding, &b"transfer-encoding"[..]),
            _ => return FieldKind::Other,
        };
        if name.eq_ignore_ascii_case(spelled) {
            kind
        } else {
            FieldKind::Other
        }
    }

    /// Whether smol-toy reads the field, so that its value must be ASCII.
    pub fn is_read(self) -> bool {
        self != FieldKind::Other
    }
}

/// Why a field value is refused; every protocol answers it with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueRefusal {
    /// A control character other than HTAB (RFC 9110 §5.5).
    ControlCharacter,
    /// A byte 0x80-0xFF in a field smol-toy reads: the field's name.
    NotAscii(String),
}

impl fmt::Display for ValueRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRefusal::ControlCharacter => f.write_str("a control character in a header value"),
            ValueRefusal::NotAscii(name) => write!(f, "a byte outside ASCII in the {name} header"),
        }
    }
}

/// Checks a field's value, `value` without the white space around it: no control
/// bytes other than tabs, and only ASCII in a field smol-toy reads. Returns whether
/// the value is all ASCII.
pub fn check_value(name: &[u8], kind: FieldKind, value: &[u8]) -> Result<bool, ValueRefusal> {
    if value.iter().fold(false, |bad, &b| bad | is_control(b)) {
        return Err(ValueRefusal::ControlCharacter);
    }
    let ascii = value.is_ascii();
    if kind.is_read() && !ascii {
        return Err(ValueRefusal::NotAscii(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    Ok(ascii)
}

/// A control character other than HTAB: not allowed in a field value. (Checked
/// without stopping at the first, so that the loop compiles to vector instructions.)
fn is_control(b: u8) -> bool {
    (b < b' ' && b != b'\t') | (b == 0x7f)
}

/// Why an `Expect` field is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectRefusal {
    /// More than one: 400.
    Repeated,
    /// An expectation other than `100-continue`: 417.
    Unknown,
}

/// `Expect` (RFC 9110 §10.1.1), from its values: at most one, and only
/// `100-continue` is met. Returns whether the client expects `100 Continue`.
pub fn expectation<'v>(mut values: impl Iterator<Item = &'v [u8]>) -> Result<bool, ExpectRefusal> {
    match (values.next(), values.next()) {
        (None, _) => Ok(false),
        (Some(_), Some(_)) => Err(ExpectRefusal::Repeated),
        (Some(expect), None) if expect.eq_ignore_ascii_case(b"100-continue") => Ok(true),
        (Some(_), None) => Err(ExpectRefusal::Unknown),
    }
}

/// `host[:port]` as RFC 3986 allows it: a registered name, an IPv4 address or a
/// bracketed IP literal. The empty value is refused: every http URI has a host.
pub fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = match value {
        [b'[', ..] => match value.iter().position(|&b| b == b']') {
            Some(close) => (&value[..=close], &value[close + 1..]),
            None => return false,
        },
        _ => match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &value[value.len()..]),
        },
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let host_ok = match host {
        [b'[', literal @ .., b']'] => {
            !literal.is_empty()
                && literal
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b".:".contains(&b))
        }
        _ => !host.is_empty() && is_reg_name(host),
    };
    host_ok && port_ok
}

/// A registered name (RFC 3986 `reg-name`): unreserved characters, sub-delimiters
/// and well-formed percent-encoded octets.
fn is_reg_name(host: &[u8]) -> bool {
    let mut rest = host;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = match (byte, tail) {
            (b'%', [high, low, tail @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                tail
            }
            (b'%', _) => return false,
            _ if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&byte) => tail,
            _ => return false,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_whatever_the_case() {
        assert_eq!(FieldKind::of(b"hOsT"), FieldKind::Host);
        assert_eq!(FieldKind::of(b"Hosts"), FieldKind::Other);
        assert_eq!(
            FieldKind::of(b"TRANSFER-encoding"),
            FieldKind::TransferEncoding
        );
        assert_eq!(FieldKind::of(b"x-request-id"), FieldKind::RequestId);
    }

    #[test]
    fn values() {
        let check = |name: &str, value: &[u8]| {
            check_value(name.as_bytes(), FieldKind::of(name.as_bytes()), value)
        };
        assert_eq!(check("x-a", b"a\tb"), Ok(true));
        assert_eq!(check("x-a", "caf\u{e9}".as_bytes()), Ok(false));
        for bad in [&b"a\x00b"[..], b"a\rb", b"a\nb", b"a\x7fb"] {
            assert_eq!(check("x-a", bad), Err(ValueRefusal::ControlCharacter));
        }
        let refused = check("Host", "caf\u{e9}".as_bytes()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "a byte outside ASCII in the Host header"
        );
    }

    #[test]
    fn host_values() {
        for good in [
            "localhost",
            "a.b:80",
            "127.0.0.1:4567",
            "[::1]:4567",
            "[::1]",
            "x%41",
        ] {
            assert!(is_valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "", "a b", "a/b", "u@h", "h:8x", "[::1", "[]", ":80", "[::1]x", "a%zz", "a%4",
        ] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
