//! Request heads: finding where one ends in the read buffer, decoding it with
//! async-h1, and the checks RFC 9112 requires that async-h1 does not make.

use std::borrow::Cow;

use http_types::headers::{CONTENT_LENGTH, HOST, HeaderValues, TRANSFER_ENCODING};
use http_types::{Method, Request, StatusCode, Version};
use smol::io::Cursor;

use super::finish_in_memory;

/// Most header fields a request may carry.
pub const MAX_HEADER_FIELDS: usize = 100;

/// async-h1's decoder refuses a head of 8 KiB or more (`MAX_HEAD_LENGTH`), counted
/// after our rewriting; longer heads are handed to it in batches of header lines.
const DECODER_HEAD_LIMIT: usize = 8 * 1024 - 1;

/// The request line and Host field that carry each batch after the first, kept short
/// so that one header line of up to `MAX_FIELD_LINE` bytes fits in a batch.
const BATCH_PREFIX: &[u8] = b"GET / HTTP/1.1\r\nHost: b\r\n";

/// The longest header line async-h1 can decode, whatever `--max-head-size` says:
/// the decoder limit less the batch prefix and two line ends.
pub const MAX_FIELD_LINE: usize = DECODER_HEAD_LIMIT - BATCH_PREFIX.len() - 4;

/// Why a request cannot be served: its status and a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status the client receives.
    pub status: StatusCode,
    /// What was wrong, for the `detail` member of the JSON body.
    pub detail: Cow<'static, str>,
}

impl HttpError {
    /// An error with a fixed explanation.
    pub fn new(status: StatusCode, detail: &'static str) -> Self {
        HttpError {
            status,
            detail: Cow::Borrowed(detail),
        }
    }

    fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        HttpError {
            status: StatusCode::BadRequest,
            detail: detail.into(),
        }
    }
}

/// Finds the end of a request head in a buffer that fills over several reads,
/// enforcing the size and field-count limits as the bytes arrive.
///
/// Lines may end in CRLF or a bare LF (RFC 9112 §2.2), and empty lines before the
/// request line are skipped.
#[derive(Debug)]
pub struct HeadScanner {
    max_size: usize,
    scanned: usize,
    line_start: usize,
    request_line_seen: bool,
    fields: usize,
}

impl HeadScanner {
    /// A scanner for heads of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        HeadScanner {
            max_size,
            scanned: 0,
            line_start: 0,
            request_line_seen: false,
            fields: 0,
        }
    }

    /// Scans what was added to `buffer` since the last call. Returns the length of
    /// the head, its final empty line included, once the head is complete.
    pub fn scan(&mut self, buffer: &[u8]) -> Result<Option<usize>, HttpError> {
        while let Some(offset) = buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset + 1;
            let line = trim_cr(&buffer[self.line_start..end - 1]);
            self.scanned = end;
            self.line_start = end;
            if end > self.max_size {
                return Err(self.too_large());
            }
            if line.is_empty() {
                if self.request_line_seen {
                    return Ok(Some(end));
                }
            } else if !self.request_line_seen {
                self.request_line_seen = true;
            } else {
                self.fields += 1;
                if self.fields > MAX_HEADER_FIELDS {
                    return Err(HttpError::new(
                        StatusCode::RequestHeaderFieldsTooLarge,
                        "more than 100 header fields",
                    ));
                }
            }
        }
        self.scanned = buffer.len();
        if buffer.len() >= self.max_size {
            return Err(self.too_large());
        }
        Ok(None)
    }

    fn too_large(&self) -> HttpError {
        if self.request_line_seen {
            HttpError::new(
                StatusCode::RequestHeaderFieldsTooLarge,
                "the request head is larger than the server accepts",
            )
        } else {
            HttpError::new(
                StatusCode::UriTooLong,
                "the request line is longer than the server accepts",
            )
        }
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

/// A decoded and checked request head.
#[derive(Debug)]
pub struct Head {
    /// The request as async-h1 decoded it (its body is empty).
    pub request: Request,
    /// The method as sent, when async-h1 does not know it: the request then carries
    /// GET in its place, and only 405 or 501 can be answered.
    pub unknown_method: Option<String>,
    /// The target was `*` (the request carries `/` in its place).
    pub asterisk: bool,
    /// How the body is delimited.
    pub framing: Framing,
    /// The client sent `Expect: 100-continue`.
    pub expects_continue: bool,
    /// The client asked to close the connection, or (HTTP/1.0) did not ask to keep it.
    pub wants_close: bool,
}

impl Head {
    /// The method for the access log.
    pub fn method_name(&self) -> String {
        match &self.unknown_method {
            Some(method) => method.clone(),
            None => self.request.method().to_string(),
        }
    }
}

/// Decodes and checks a complete head, as `HeadScanner` delimited it.
pub fn decode_head(head: &[u8]) -> Result<Head, HttpError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(trim_cr)
        .skip_while(|line| line.is_empty());
    let line = RequestLine::parse(lines.next().unwrap_or_default())?;

    // Sort the header lines: Expect is handled here (async-h1 would answer it on a
    // second executor), Host lines go first so the first batch can build the URL.
    let mut hosts = Vec::new();
    let mut fields = Vec::new();
    let mut expectation: Option<&[u8]> = None;
    for field in lines.take_while(|line| !line.is_empty()) {
        // RFC 9110 tolerates obs-text (bytes 0x80-0xFF) in values, but http-types
        // panics on a non-ASCII value (`Headers::insert` unwraps), so it is refused.
        if !field.is_ascii() {
            return Err(HttpError::bad_request("header values must be ASCII"));
        }
        match split_field(field) {
            Some((name, value)) if name.eq_ignore_ascii_case(b"expect") => {
                if expectation.replace(value).is_some() {
                    return Err(HttpError::bad_request("more than one Expect header"));
                }
            }
            Some((name, _)) if name.eq_ignore_ascii_case(b"host") => hosts.push(field),
            _ => fields.push(field),
        }
    }
    check_host_fields(&hosts, line.version)?;
    if line.version == Version::Http1_0 && hosts.is_empty() {
        // async-h1 insists on a Host; HTTP/1.0 clients need not send one.
        hosts.push(b"Host: localhost");
    }

    let mut request = decode_in_batches(&line, &hosts, &fields)?;
    request.set_version(Some(line.version));
    let framing = check_framing(&request, line.version)?;
    let expects_continue = match expectation {
        None => false,
        Some(value) if value.eq_ignore_ascii_case(b"100-continue") => true,
        Some(_) => {
            return Err(HttpError::new(
                StatusCode::ExpectationFailed,
                "the only expectation supported is 100-continue",
            ));
        }
    };
    let (close, keep_alive) = connection_options(&request);
    let wants_close = close || (line.version == Version::Http1_0 && !keep_alive);
    Ok(Head {
        request,
        unknown_method: line.unknown_method(),
        asterisk: line.target == b"*",
        framing,
        expects_continue,
        wants_close,
    })
}

/// The request line, split and checked.
#[derive(Debug)]
struct RequestLine<'a> {
    method: &'a [u8],
    known_method: Option<Method>,
    target: &'a [u8],
    version: Version,
}

impl<'a> RequestLine<'a> {
    fn parse(line: &'a [u8]) -> Result<Self, HttpError> {
        let mut parts = line.splitn(3, |&b| b == b' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let version = parts.next().unwrap_or_default();
        if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
            return Err(HttpError::bad_request("malformed request line (method)"));
        }
        if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
            return Err(HttpError::bad_request("malformed request line (target)"));
        }
        let version = parse_version(version)?;
        let known_method = std::str::from_utf8(method)
            .ok()
            .and_then(|m| m.parse().ok());
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

    fn unknown_method(&self) -> Option<String> {
        match self.known_method {
            Some(_) => None,
            None => Some(String::from_utf8_lossy(self.method).into_owned()),
        }
    }

    /// The request line as async-h1 accepts it: HTTP/1.1, a method it knows, and a
    /// target it can turn into a URL.
    fn write_for_decoder(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.known_method {
            Some(_) => self.method,
            None => b"GET",
        });
        out.push(b' ');
        out.extend_from_slice(if self.target == b"*" {
            b"/"
        } else {
            self.target
        });
        out.extend_from_slice(b" HTTP/1.1\r\n");
    }
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
            StatusCode::HttpVersionNotSupported,
            "this server speaks HTTP/1.0 and HTTP/1.1",
        ));
    }
    match number {
        [_, _, b'0'] => Ok(Version::Http1_0),
        [_, _, _] => Ok(Version::Http1_1),
        _ => Err(malformed()),
    }
}

/// RFC 9112 §3.2: exactly one valid Host on HTTP/1.1, at most one on HTTP/1.0.
fn check_host_fields(hosts: &[&[u8]], version: Version) -> Result<(), HttpError> {
    match hosts {
        [] if version == Version::Http1_0 => Ok(()),
        [] => Err(HttpError::bad_request("the Host header is missing")),
        [host] if split_field(host).is_some_and(|(_, value)| is_valid_host(value)) => Ok(()),
        [_] => Err(HttpError::bad_request(
            "the Host header is not a valid host",
        )),
        _ => Err(HttpError::bad_request("more than one Host header")),
    }
}

/// `host[:port]` as RFC 3986 allows it: a registered name, an IPv4 address or a
/// bracketed IP literal. The empty value is refused: every http URI has a host.
fn is_valid_host(value: &[u8]) -> bool {
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

/// Hands the head to async-h1's decoder, in batches small enough for it: the
/// request line and Host lead the first batch; later batches carry the remaining
/// header lines behind a stand-in request line, and their fields are merged.
fn decode_in_batches(
    line: &RequestLine<'_>,
    hosts: &[&[u8]],
    fields: &[&[u8]],
) -> Result<Request, HttpError> {
    let mut batch = Vec::with_capacity(512);
    line.write_for_decoder(&mut batch);
    for host in hosts {
        push_line(&mut batch, host);
    }
    if batch.len() + 2 > DECODER_HEAD_LIMIT {
        return Err(HttpError::new(
            StatusCode::UriTooLong,
            "the request line is longer than 8 KiB",
        ));
    }
    let mut request = None;
    let mut rest = fields;
    loop {
        // Whole lines, in order, as many as fit under the decoder's limit.
        let taken = rest
            .iter()
            .scan(batch.len(), |size, field| {
                *size += field.len() + 2;
                (*size + 2 <= DECODER_HEAD_LIMIT).then_some(())
            })
            .count();
        if taken == 0 && !rest.is_empty() && request.is_some() {
            return Err(HttpError::new(
                StatusCode::RequestHeaderFieldsTooLarge,
                "a header line is longer than 8162 bytes",
            ));
        }
        for field in &rest[..taken] {
            push_line(&mut batch, field);
        }
        rest = &rest[taken..];
        batch.extend_from_slice(b"\r\n");
        let decoded = decode_batch(std::mem::take(&mut batch))?;
        match request.as_mut() {
            None => request = Some(decoded),
            Some(request) => merge_fields(request, &decoded),
        }
        if rest.is_empty() {
            return Ok(request.expect("the first batch always decodes a request"));
        }
        batch.extend_from_slice(BATCH_PREFIX);
    }
}

/// Decodes one batch with async-h1; it reads from memory, so one poll finishes it.
fn decode_batch(bytes: Vec<u8>) -> Result<Request, HttpError> {
    match finish_in_memory(async_h1::server::decode(Cursor::new(bytes))) {
        Some(Ok(Some((request, _body)))) => Ok(request),
        Some(Ok(None)) => Err(HttpError::bad_request("empty request head")),
        Some(Err(error)) => Err(HttpError::bad_request(error.to_string())),
        None => Err(HttpError::new(
            StatusCode::InternalServerError,
            "the decoder waited for input it already had",
        )),
    }
}

/// Copies the header fields of a later batch, less its stand-in Host.
fn merge_fields(request: &mut Request, batch: &Request) {
    for (name, values) in batch.iter() {
        if *name != HOST {
            for value in values {
                request.append_header(name.clone(), value.clone());
            }
        }
    }
}

/// Works out how the body is delimited, refusing what RFC 9112 §6 says to refuse.
fn check_framing(request: &Request, version: Version) -> Result<Framing, HttpError> {
    let length = match request.header(CONTENT_LENGTH) {
        Some(values) => Some(content_length(values)?),
        None => None,
    };
    let Some(codings) = request.header(TRANSFER_ENCODING) else {
        return Ok(length.map_or(Framing::Empty, Framing::Length));
    };
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
    let codings: Vec<&str> = codings
        .iter()
        .flat_map(|value| value.as_str().split(','))
        .map(str::trim)
        .collect();
    let chunked = |coding: &str| coding.eq_ignore_ascii_case("chunked");
    let not_implemented = || {
        HttpError::new(
            StatusCode::NotImplemented,
            "the only transfer coding supported is chunked",
        )
    };
    // RFC 9112 §6.3: chunked must be applied once, as the final coding.
    match codings.iter().filter(|coding| chunked(coding)).count() {
        0 => Err(not_implemented()),
        1 if codings.last().is_some_and(|coding| chunked(coding)) => match codings.len() {
            1 => Ok(Framing::Chunked),
            _ => Err(not_implemented()),
        },
        _ => Err(HttpError::bad_request(
            "chunked must be the final transfer coding, applied once",
        )),
    }
}

/// Every Content-Length value, comma lists included, must be the same number.
fn content_length(values: &HeaderValues) -> Result<u64, HttpError> {
    let mut length = None;
    for item in values.iter().flat_map(|value| value.as_str().split(',')) {
        let item = item.trim();
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::bad_request("invalid Content-Length"));
        }
        let parsed: u64 = item
            .parse()
            .map_err(|_| HttpError::bad_request("Content-Length is too large"))?;
        if length
            .replace(parsed)
            .is_some_and(|earlier| earlier != parsed)
        {
            return Err(HttpError::bad_request("conflicting Content-Length values"));
        }
    }
    length.ok_or_else(|| HttpError::bad_request("invalid Content-Length"))
}

/// The `close` and `keep-alive` options of the Connection header.
fn connection_options(request: &Request) -> (bool, bool) {
    let mut options = (false, false);
    if let Some(values) = request.header(http_types::headers::CONNECTION) {
        for option in values.iter().flat_map(|v| v.as_str().split(',')) {
            let option = option.trim();
            options.0 |= option.eq_ignore_ascii_case("close");
            options.1 |= option.eq_ignore_ascii_case("keep-alive");
        }
    }
    options
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The name and the value (without surrounding white space) of a header line, if it
/// has a colon.
fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    Some((&line[..colon], line[colon + 1..].trim_ascii()))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8], max: usize) -> Result<Option<usize>, HttpError> {
        HeadScanner::new(max).scan(input)
    }

    #[test]
    fn scanner_finds_the_end_across_reads() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        let mut scanner = HeadScanner::new(8192);
        for end in 1..head.len() - 4 {
            assert_eq!(scanner.scan(&head[..end]), Ok(None), "after {end} bytes");
        }
        assert_eq!(scanner.scan(head), Ok(Some(head.len() - 4)));
    }

    #[test]
    fn scanner_accepts_bare_lf_and_leading_blank_lines() {
        let head = b"\r\n\nGET / HTTP/1.1\nHost: a\n\n";
        assert_eq!(scan_all(head, 8192), Ok(Some(head.len())));
    }

    #[test]
    fn scanner_limits_size_and_field_count() {
        let line = b"GET / HTTP/1.1\r\n";
        assert_eq!(
            scan_all(&[b'a'; 100], 100).unwrap_err().status,
            StatusCode::UriTooLong
        );
        let mut big = line.to_vec();
        big.resize(100, b'x');
        assert_eq!(
            scan_all(&big, 100).unwrap_err().status,
            StatusCode::RequestHeaderFieldsTooLarge
        );
        let mut many = line.to_vec();
        for _ in 0..=MAX_HEADER_FIELDS {
            many.extend_from_slice(b"X: y\r\n");
        }
        assert_eq!(
            scan_all(&many, 8192).unwrap_err().status,
            StatusCode::RequestHeaderFieldsTooLarge
        );
    }

    #[test]
    fn scanner_accepts_a_head_of_exactly_the_limit() {
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.resize(200 - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(scan_all(&head, 200), Ok(Some(200)));
        assert!(scan_all(&head, 199).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version(b"HTTP/1.1"), Ok(Version::Http1_1));
        assert_eq!(parse_version(b"HTTP/1.0"), Ok(Version::Http1_0));
        assert_eq!(parse_version(b"HTTP/1.7"), Ok(Version::Http1_1));
        for major in [&b"HTTP/2.0"[..], b"HTTP/2", b"HTTP/3.0", b"HTTP/0.9"] {
            let status = parse_version(major).unwrap_err().status;
            assert_eq!(status, StatusCode::HttpVersionNotSupported);
        }
        for bad in [&b"HTTP/1"[..], b"HTTP/1.10", b"http/1.1", b"HTTP/1.1 ", b""] {
            assert_eq!(
                parse_version(bad).unwrap_err().status,
                StatusCode::BadRequest
            );
        }
    }

    #[test]
    fn hosts() {
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
            "", "a b", "a/b", "u@h", "h:8x", "[::1", "[]", ":80", "[::1]x",
        ] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn long_heads_decode_in_batches() {
        let mut head = b"GET /toy HTTP/1.1\r\n".to_vec();
        for i in 0..20 {
            head.extend_from_slice(format!("X-Field-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
        }
        head.extend_from_slice(b"Host: example.com\r\n\r\n");
        let decoded = decode_head(&head).expect("decodes");
        assert_eq!(decoded.request.url().as_str(), "http://example.com/toy");
        assert_eq!(
            decoded.request.header(HOST).unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            decoded.request.header("x-field-19").unwrap().as_str().len(),
            1000
        );
        assert_eq!(decoded.request.iter().count(), 21);
    }
}
