//! The request line (RFC 9112 §3): method, target and version.

use http_types::{Method, Version};

use crate::exchange::fields::is_token;
use crate::exchange::refusal::{HttpError, Refusal};

/// The request line, split and checked.
#[derive(Debug)]
pub struct RequestLine<'a> {
    /// The method token as sent.
    pub method: &'a [u8],
    /// The method, when it is one http-types knows, spelled exactly as it spells it.
    pub known_method: Option<Method>,
    /// The request target as sent.
    pub target: &'a [u8],
    /// HTTP/1.0, or HTTP/1.1 for every other 1.x.
    pub version: Version,
}

impl<'a> RequestLine<'a> {
    /// Splits `line` at single spaces and checks each part.
    pub fn parse(line: &'a [u8]) -> Result<Self, HttpError> {
        let mut parts = line.splitn(3, |&b| b == b' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let version = parts.next().unwrap_or_default();
        if !is_token(method) {
            return Err(HttpError::bad_request("malformed request line (method)"));
        }
        if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
            return Err(HttpError::bad_request("malformed request line (target)"));
        }
        let version = parse_version(version)?;
        let known_method = known_method(method);
        if target == b"*" && known_method != Some(Method::Options) {
            return Err(HttpError::bad_request("the target * is for OPTIONS only"));
        }
        Ok(RequestLine {
            method,
            known_method,
            target,
            version,
        })
    }

    /// Whether the target is `*` (asterisk-form, for `OPTIONS *`).
    pub fn is_asterisk(&self) -> bool {
        self.target == b"*"
    }
}

/// The method `token` names. Method tokens are case-sensitive (RFC 9110 §9.1):
/// `get` is not `GET` but an unknown method, whereas http-types' parser folds case.
fn known_method(token: &[u8]) -> Option<Method> {
    let text = std::str::from_utf8(token).ok()?;
    let method: Method = text.parse().ok()?;
    (method.as_ref() == text).then_some(method)
}

/// `HTTP/1.1` → 1.1; other HTTP/1.x minors are answered as 1.1; other majors get 505.
fn parse_version(version: &[u8]) -> Result<Version, HttpError> {
    let malformed = || HttpError::bad_request("malformed request line (version)");
    let number = version.strip_prefix(b"HTTP/").ok_or_else(malformed)?;
    let major = match number {
        [major] | [major, b'.', b'0'..=b'9'] if major.is_ascii_digit() => *major,
        _ => return Err(malformed()),
    };
    if major != b'1' {
        return Err(HttpError::new(
            Refusal::VersionNotSupported,
            "this server speaks HTTP/1.0 and HTTP/1.1",
        ));
    }
    match number {
        [_, _, b'0'] => Ok(Version::Http1_0),
        [_, _, _] => Ok(Version::Http1_1),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::StatusCode;

    #[test]
    fn versions() {
        assert_eq!(parse_version(b"HTTP/1.1"), Ok(Version::Http1_1));
        assert_eq!(parse_version(b"HTTP/1.0"), Ok(Version::Http1_0));
        assert_eq!(parse_version(b"HTTP/1.7"), Ok(Version::Http1_1));
        for major in [&b"HTTP/2.0"[..], b"HTTP/2", b"HTTP/3.0", b"HTTP/0.9"] {
            let status = parse_version(major).unwrap_err().status();
            assert_eq!(status, StatusCode::HttpVersionNotSupported);
        }
        for bad in [&b"HTTP/1"[..], b"HTTP/1.10", b"http/1.1", b"HTTP/1.1 ", b""] {
            assert_eq!(
                parse_version(bad).unwrap_err().status(),
                StatusCode::BadRequest
            );
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(known_method(b"GET"), Some(Method::Get));
        assert_eq!(known_method(b"OPTIONS"), Some(Method::Options));
        assert_eq!(
            known_method(b"BASELINE-CONTROL"),
            Some(Method::BaselineControl)
        );
        for unknown in [&b"get"[..], b"Get", b"gET", b"head", b"BREW", b"GET2"] {
            assert_eq!(known_method(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn a_lowercase_method_is_unknown_and_kept_as_sent() {
        let line = RequestLine::parse(b"get /healthz HTTP/1.1").expect("parses");
        assert_eq!(line.method, b"get");
        assert_eq!(line.known_method, None);
        let error = RequestLine::parse(b"options * HTTP/1.1").unwrap_err();
        assert_eq!(error.status(), StatusCode::BadRequest);
    }
}
