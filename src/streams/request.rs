//! A stream's request, as its protocol's library decoded it (`http::request::Parts`),
//! into the request the exchange layer dispatches: checked by every protocol's
//! field rules (`exchange::field_rules`), its `:authority` against `Host`, and
//! turned into an `http_types::Request`.
//!
//! The library has already applied its protocol's own rules (RFC 9113 §8.1.1,
//! §8.2, §8.3; RFC 9114 §4.1.2, §4.2, §4.3): the pseudo-header fields, lowercase
//! names, no connection-specific fields. A stream that breaks them never reaches
//! this module: h2 resets it with PROTOCOL_ERROR.

use http::request::Parts;
use http_types::url::ParseError;
use http_types::{Method, Request, Url, Version};

use crate::exchange::field_rules::{FieldKind, check_value, expectation, is_valid_host};
use crate::exchange::refusal::HttpError;
use crate::exchange::{ReadRequest, RequestId, RequestMethod, opaque_value};

/// The URL of the origin a connection's requests last named, so that the next
/// request for it gets its URL without the host parsed again (most of what
/// `Url::parse` costs). Nearly every connection names one origin.
#[derive(Default)]
pub struct Urls {
    /// Over https, the authority, and its URL with the path `/`.
    last: Option<(bool, String, Url)>,
}

impl Urls {
    /// The URL of `target` (a path and query, or `/`) at the origin `https` and
    /// `authority` name: the same URL `Url::parse` makes of the whole.
    fn url(&mut self, https: bool, authority: &str, target: &str) -> Result<Url, ParseError> {
        let scheme = if https { "https" } else { "http" };
        // Joined to a URL, a target that starts `//` or `/\` would name a host of
        // its own, and one without `/` would be relative: only parsing the whole
        // reads them as the path that follows the authority.
        let joinable =
            target.starts_with('/') && !matches!(target.as_bytes().get(1), Some(b'/' | b'\\'));
        if !joinable {
            return Url::parse(&format!("{scheme}://{authority}{target}"));
        }
        let base = match &self.last {
            Some((was_https, was, base)) if *was_https == https && was == authority => base,
            _ => {
                let base = Url::parse(&format!("{scheme}://{authority}/"))?;
                &self.last.insert((https, authority.to_owned(), base)).2
            }
        };
        base.join(target)
    }
}

/// Checks a stream's request head and builds the request, of `version`; `urls`
/// holds the URL of the connection's last origin.
pub fn read(parts: &Parts, urls: &mut Urls, version: Version) -> Result<ReadRequest, HttpError> {
    let token = parts.method.as_str();
    // Method tokens are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    let known = (token.parse::<Method>().ok()).filter(|method| method.as_ref() == token);
    let method = match known {
        Some(known) => RequestMethod::Known(known),
        None => RequestMethod::Unknown(token.to_owned()),
    };
    let fields = check_fields(parts)?;
    let authority = authority(parts, fields.host)?;
    let path = parts.uri.path_and_query().map_or("", |path| path.as_str());
    // A path and query as RFC 3986 writes them: visible ASCII, as HTTP/1's
    // request target.
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::bad_request(
            "the :path is not a valid request target",
        ));
    }
    let asterisk = path == "*";
    if asterisk && known != Some(Method::Options) {
        return Err(HttpError::bad_request("the target * is for OPTIONS only"));
    }
    let https = parts.uri.scheme_str() == Some("https");
    let target = if asterisk || path.is_empty() {
        "/"
    } else {
        path
    };
    let url = (urls.url(https, authority, target)).map_err(|error| {
        HttpError::bad_request(format!("the request target is not a valid URL: {error}"))
    })?;
    let mut request = Request::new(known.unwrap_or(Method::Get), url);
    request.set_version(Some(version));
    for (name, value) in &parts.headers {
        request.append_header(name.as_str(), &*opaque_value(value.as_bytes()));
    }
    Ok(ReadRequest {
        request,
        method,
        asterisk,
        request_id: fields.request_id.unwrap_or_else(RequestId::generate),
    })
}

/// What the fields say, once every protocol's rules have passed them.
struct CheckedFields<'a> {
    /// `Host`, if sent (once).
    host: Option<&'a [u8]>,
    /// The client's id, if it sent one usable `X-Request-Id`.
    request_id: Option<RequestId>,
}

/// Applies the field rules to every field, and `Expect`'s.
fn check_fields(parts: &Parts) -> Result<CheckedFields<'_>, HttpError> {
    let mut host = None;
    let mut ids = Vec::new();
    for (name, value) in &parts.headers {
        let kind = FieldKind::of(name.as_str().as_bytes());
        check_value(name.as_str().as_bytes(), kind, value.as_bytes())?;
        if is_connection_specific(name.as_str(), kind, value.as_bytes()) {
            return Err(HttpError::bad_request(
                "a connection-specific header field in a stream's request",
            ));
        }
        match kind {
            FieldKind::Host if host.is_some() => {
                return Err(HttpError::bad_request("more than one Host header"));
            }
            FieldKind::Host => host = Some(value.as_bytes()),
            FieldKind::RequestId => ids.push(value.as_bytes()),
            _ => {}
        }
    }
    let expect = (parts.headers.get_all(http::header::EXPECT).iter()).map(|value| value.as_bytes());
    expectation(expect)?;
    let request_id = match ids[..] {
        [id] => RequestId::from_client(id),
        _ => None,
    };
    Ok(CheckedFields { host, request_id })
}

/// Whether a field belongs to an HTTP/1.1 connection, and makes a stream's
/// request malformed (RFC 9113 §8.2.2, RFC 9114 §4.2): `TE` may only say
/// `trailers`. h2 refuses these itself; h3 leaves them to the server.
fn is_connection_specific(name: &str, kind: FieldKind, value: &[u8]) -> bool {
    match kind {
        FieldKind::Connection | FieldKind::TransferEncoding => true,
        FieldKind::Te => !value.eq_ignore_ascii_case(b"trailers"),
        _ => matches!(name, "keep-alive" | "proxy-connection" | "upgrade"),
    }
}

/// The host the request is for: `:authority`, or `Host` without it (RFC 9113
/// §8.3.1). Both may be sent; then they must name the same host.
fn authority<'a>(parts: &'a Parts, host: Option<&'a [u8]>) -> Result<&'a str, HttpError> {
    let authority = parts.uri.authority().map(|authority| authority.as_str());
    let named = match (authority, host) {
        (Some(authority), Some(host)) if authority.as_bytes() != host => {
            return Err(HttpError::bad_request(
                ":authority and Host name different hosts",
            ));
        }
        (Some(authority), _) => authority.as_bytes(),
        (None, Some(host)) => host,
        (None, None) => {
            return Err(HttpError::bad_request(
                "neither :authority nor Host names the host",
            ));
        }
    };
    if !is_valid_host(named) {
        return Err(HttpError::bad_request(
            "the :authority or Host is not a valid host",
        ));
    }
    // A valid host is ASCII.
    std::str::from_utf8(named).map_err(|_| HttpError::bad_request("the host is not ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::dispatch::Target;

    /// Reads a connection's first request, over HTTP/2.
    fn read(parts: &Parts) -> Result<ReadRequest, HttpError> {
        super::read(parts, &mut Urls::default(), Version::Http2_0)
    }

    /// Joining a target to the origin's URL makes the URL parsing the whole makes,
    /// for the targets that are joined and those that are not.
    #[test]
    fn connection_specific_fields_make_a_request_malformed() {
        for (name, value, malformed) in [
            ("connection", "keep-alive", true),
            ("keep-alive", "timeout=5", true),
            ("proxy-connection", "close", true),
            ("transfer-encoding", "chunked", true),
            ("upgrade", "websocket", true),
            ("te", "gzip", true),
            ("te", "trailers", false),
            ("TE", "Trailers", false),
            ("accept", "*/*", false),
        ] {
            let request = http::Request::get("https://t/toy").header(name, value);
            let parts = request.body(()).unwrap().into_parts().0;
            assert_eq!(read(&parts).is_err(), malformed, "{name}: {value}");
        }
    }

    #[test]
    fn a_urls_target_joined_to_its_origin_is_the_url_parsed_whole() {
        let targets = [
            "/",
            "/toy",
            "/toy?x=1&y",
            "/a/../b/./c",
            "/%2e%2e/x",
            "/a?b#c",
            "/#f",
            "/?",
            "/a%zz",
            "/a/b/",
            "//evil/x",
            "/\\evil/x",
            "/a\\b",
            "/@x",
            "/:80",
            "/ä",
            "x/y",
            "?q",
        ];
        for (https, authority) in [(false, "t"), (true, "T.example:443"), (false, "[::1]:8080")] {
            let scheme = if https { "https" } else { "http" };
            let mut urls = Urls::default();
            for target in targets {
                let whole = Url::parse(&format!("{scheme}://{authority}{target}"));
                // Twice: the first makes the origin's URL, the second uses it.
                for _ in 0..2 {
                    let joined = urls.url(https, authority, target);
                    assert_eq!(joined, whole, "{scheme}://{authority} {target}");
                }
            }
        }
    }

    fn parts(build: http::request::Builder) -> Parts {
        build.body(()).unwrap().into_parts().0
    }

    fn get(uri: &str) -> http::request::Builder {
        http::Request::builder().method("GET").uri(uri)
    }

    #[test]
    fn a_request_keeps_its_path_query_fields_and_version() {
        let read = read(&parts(
            get("http://t:4567/toy?a=1")
                .header("user-agent", "M\u{f6}zilla")
                .header("x-request-id", "abc"),
        ))
        .unwrap();
        assert_eq!(read.request.url().as_str(), "http://t:4567/toy?a=1");
        assert_eq!(read.request.version(), Some(Version::Http2_0));
        assert_eq!(read.target(), Target::Path("/toy"));
        assert_eq!(read.request_id.as_str(), "abc");
        assert_eq!(read.request["user-agent"].as_str(), r"M\xc3\xb6zilla");
    }

    #[test]
    fn host_rules() {
        assert!(read(&parts(get("/toy").header("host", "t"))).is_ok());
        assert!(read(&parts(get("http://t/toy").header("host", "t"))).is_ok());
        for (request, why) in [
            (get("/toy"), "neither"),
            (get("http://t/toy").header("host", "u"), "different"),
            (get("/toy").header("host", "a b"), "not a valid host"),
            (
                get("/toy").header("host", "t").header("host", "t"),
                "more than one",
            ),
            (get("http://u@t/toy"), "not a valid host"),
        ] {
            let error = read(&parts(request)).unwrap_err().detail;
            assert!(error.contains(why), "{error}");
        }
    }

    #[test]
    fn field_rules_are_the_http1_rules() {
        let utf8_host = http::HeaderValue::from_bytes("t\u{e9}".as_bytes()).unwrap();
        let error = read(&parts(get("/").header("host", utf8_host))).unwrap_err();
        assert_eq!(error.detail, "a byte outside ASCII in the host header");
        let utf8_id = http::HeaderValue::from_bytes("\u{e9}".as_bytes()).unwrap();
        let error = read(&parts(get("http://t/").header("x-request-id", utf8_id))).unwrap_err();
        assert_eq!(
            error.detail,
            "a byte outside ASCII in the x-request-id header"
        );
        // Two ids: neither is believed.
        let two = read(&parts(
            get("http://t/")
                .header("x-request-id", "a")
                .header("x-request-id", "b"),
        ))
        .unwrap();
        assert_eq!(two.request_id.as_str().len(), 32);
    }

    #[test]
    fn asterisk_and_unknown_methods() {
        let options = parts(http::Request::builder().method("OPTIONS").uri("http://t/"));
        let mut star = options.clone();
        star.uri = "*".parse().unwrap();
        star.headers.insert("host", "t".parse().unwrap());
        assert_eq!(read(&star).unwrap().target(), Target::Asterisk);
        let mut get_star = star.clone();
        get_star.method = http::Method::GET;
        assert!(read(&get_star).is_err());
        let brew = read(&parts(
            http::Request::builder().method("BREW").uri("http://t/"),
        ))
        .unwrap();
        assert_eq!(brew.method, RequestMethod::Unknown("BREW".into()));
        assert_eq!(brew.request.method(), Method::Get);
    }
}
