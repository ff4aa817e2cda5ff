//! The HTTP/1.x conformance table: raw requests, the status each must get, and
//! whether the connection must stay open after it. `conformance.rs` sends them over
//! TCP, `properties.rs` pipelines them in memory, and the fuzzer's seed corpus is
//! written from them.

// Each test file reads a part of a case.
#![allow(dead_code)]

pub struct Case {
    pub name: &'static str,
    pub request: &'static [u8],
    /// The status the request gets.
    pub status: u16,
    /// Whether the connection stays open for another request afterwards.
    pub stays_open: bool,
    /// The client closes its sending side right after the request, which is
    /// incomplete without that: nothing can be sent after it.
    pub client_closes: bool,
}

const fn case(name: &'static str, request: &'static [u8], status: u16, stays_open: bool) -> Case {
    Case {
        name,
        request,
        status,
        stays_open,
        client_closes: false,
    }
}

impl Case {
    /// The same case, with the client closing its sending side after the request.
    const fn then_client_closes(self) -> Case {
        Case {
            client_closes: true,
            ..self
        }
    }
}

pub const OPEN: bool = true;
pub const CLOSED: bool = false;

#[rustfmt::skip]
pub const CASES: &[Case] = &[
    // Requests that are served and leave the connection open.
    case("get toy", b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("get healthz", b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("head toy", b"HEAD /toy HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("options path", b"OPTIONS /toy HTTP/1.1\r\nHost: t\r\n\r\n", 204, OPEN),
    case("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 204, OPEN),
    case("query string", b"GET /toy?a=1&b HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("absolute form", b"GET http://t/toy HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("host with port", b"GET /toy HTTP/1.1\r\nHost: t:4567\r\n\r\n", 200, OPEN),
    case("host ipv6 literal", b"GET /toy HTTP/1.1\r\nHost: [::1]:4567\r\n\r\n", 200, OPEN),
    case("host punycode label", b"GET /toy HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n", 200, OPEN),
    case("host percent-encoded ascii", b"GET /toy HTTP/1.1\r\nHost: ZZ%41b\r\n\r\n", 200, OPEN),
    case("host percent-encoded utf-8", b"GET /toy HTTP/1.1\r\nHost: ZZ%C3%A9\r\n\r\n", 200, OPEN),
    case("bare lf line ends", b"GET /toy HTTP/1.1\nHost: t\n\n", 200, OPEN),
    case("leading empty line", b"\r\nGET /toy HTTP/1.1\r\nHost: t\r\n\r\n", 200, OPEN),
    case("header name case", b"GET /toy HTTP/1.1\r\nhOsT: t\r\n\r\n", 200, OPEN),
    case("no space after colon", b"GET /toy HTTP/1.1\r\nHost:t\r\n\r\n", 200, OPEN),
    case("http/1.2 answered as 1.1", b"GET /toy HTTP/1.2\r\nHost: t\r\n\r\n", 200, OPEN),
    case("http/1.0 keep-alive", b"GET /toy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, OPEN),
    case("equal content-lengths", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 405, OPEN),
    case("expect with empty body", b"GET /toy HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n", 200, OPEN),
    // Bytes 0x80-0xFF (obs-text, RFC 9110 §5.5) in a field smol-toy does not read:
    // served, as nginx, hyper and Go's net/http serve them.
    case("utf-8 in an unknown field", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-A: caf\xc3\xa9\r\n\r\n", 200, OPEN),
    case("latin-1 in an unknown field", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-A: caf\xe9\r\n\r\n", 200, OPEN),
    case("utf-8 in user-agent", b"GET /toy HTTP/1.1\r\nHost: t\r\nUser-Agent: M\xc3\xb6zilla/5.0\r\n\r\n", 200, OPEN),
    case("latin-1 in user-agent", b"GET /toy HTTP/1.1\r\nHost: t\r\nUser-Agent: M\xf6zilla/5.0\r\n\r\n", 200, OPEN),
    case("utf-8 in a cookie", b"GET /toy HTTP/1.1\r\nHost: t\r\nCookie: name=J\xc3\xbcrgen\r\n\r\n", 200, OPEN),
    case("unknown path", b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, OPEN),
    case("post known path", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, OPEN),
    case("post with body skipped", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 405, OPEN),
    case("delete unknown path", b"DELETE /nope HTTP/1.1\r\nHost: t\r\n\r\n", 501, OPEN),
    case("unknown method known path", b"BREW /toy HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    case("unknown method unknown path", b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501, OPEN),
    case("trace", b"TRACE /toy HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    // Method tokens are case-sensitive (RFC 9110 §9.1): these are unknown methods.
    case("lowercase get known path", b"get /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    case("mixed-case get known path", b"Get /toy HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    case("lowercase head known path", b"head /toy HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    case("lowercase options known path", b"options /toy HTTP/1.1\r\nHost: t\r\n\r\n", 405, OPEN),
    case("lowercase get unknown path", b"get /nope HTTP/1.1\r\nHost: t\r\n\r\n", 501, OPEN),

    // Served, then closed as asked or as the version implies.
    case("http/1.0 without host", b"GET /toy HTTP/1.0\r\n\r\n", 200, CLOSED),
    case("http/1.0 with host", b"GET /toy HTTP/1.0\r\nHost: t\r\n\r\n", 200, CLOSED),
    case("connection close", b"GET /toy HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, CLOSED),
    case("connection close in a list", b"GET /toy HTTP/1.1\r\nHost: t\r\nConnection: foo, Close\r\n\r\n", 200, CLOSED),
    case("chunked body is not read", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 405, CLOSED),
    case("large body is not read", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n", 405, CLOSED),
    case("expect with a body", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 405, CLOSED),

    // Malformed: 400, then the close.
    case("missing host", b"GET /toy HTTP/1.1\r\n\r\n", 400, CLOSED),
    case("two hosts", b"GET /toy HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, CLOSED),
    case("empty host", b"GET /toy HTTP/1.1\r\nHost:\r\n\r\n", 400, CLOSED),
    case("host with space", b"GET /toy HTTP/1.1\r\nHost: a b\r\n\r\n", 400, CLOSED),
    case("host with path", b"GET /toy HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, CLOSED),
    case("host with userinfo", b"GET /toy HTTP/1.1\r\nHost: u@h\r\n\r\n", 400, CLOSED),
    case("host with bad port", b"GET /toy HTTP/1.1\r\nHost: h:8o\r\n\r\n", 400, CLOSED),
    case("host percent-encoding not utf-8", b"GET /toy HTTP/1.1\r\nHost: ZZ%CCa\r\n\r\n", 400, CLOSED),
    case("host malformed percent-encoding", b"GET /toy HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400, CLOSED),
    case("http/1.0 two hosts", b"GET /toy HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, CLOSED),
    case("no version", b"GET /toy\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("lowercase version", b"GET /toy http/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("version without minor", b"GET /toy HTTP/1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("double space", b"GET  /toy HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("trailing space", b"GET /toy HTTP/1.1 \r\nHost: t\r\n\r\n", 400, CLOSED),
    case("tab in request line", b"GET\t/toy HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("bad method byte", b"GE(T /toy HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("relative target", b"GET toy HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("asterisk with get", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("asterisk with lowercase options", b"options * HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("control byte in target", b"GET /t\x01y HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("non-ascii target", b"GET /t\xc3\xb6y HTTP/1.1\r\nHost: t\r\n\r\n", 400, CLOSED),
    case("header without colon", b"GET /toy HTTP/1.1\r\nHost: t\r\nOops\r\n\r\n", 400, CLOSED),
    case("space before colon", b"GET /toy HTTP/1.1\r\nHost : t\r\n\r\n", 400, CLOSED),
    case("empty header name", b"GET /toy HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400, CLOSED),
    case("obs-fold", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400, CLOSED),
    case("non-ascii utf-8 in connection", b"GET /toy HTTP/1.1\r\nHost: t\r\nConnection: clo\xcd\x90\t\r\n\r\n", 400, CLOSED),
    // Bytes 0x80-0xFF (obs-text) in a field smol-toy reads: refused.
    case("utf-8 in host", b"GET /toy HTTP/1.1\r\nHost: t\xc3\xb6y\r\n\r\n", 400, CLOSED),
    case("latin-1 in host", b"GET /toy HTTP/1.1\r\nHost: t\xf6y\r\n\r\n", 400, CLOSED),
    case("utf-8 in content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1\xc3\xb6\r\n\r\n", 400, CLOSED),
    case("latin-1 in content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1\xf6\r\n\r\n", 400, CLOSED),
    case("utf-8 in transfer-encoding", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ch\xc3\xbcnked\r\n\r\n", 400, CLOSED),
    case("latin-1 in transfer-encoding", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\xfc\r\n\r\n", 400, CLOSED),
    case("utf-8 in x-request-id", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-Request-Id: r\xc3\xa9q\r\n\r\n", 400, CLOSED),
    case("nul in value", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400, CLOSED),
    case("cr in value", b"GET /toy HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, CLOSED),
    case("bad content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400, CLOSED),
    case("negative content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400, CLOSED),
    case("plus content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", 400, CLOSED),
    case("conflicting content-lengths", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nhi", 400, CLOSED),
    case("content-length list", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 3\r\n\r\nhi", 400, CLOSED),
    case("huge content-length", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, CLOSED),
    case("content-length and chunked", b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, CLOSED),
    case("chunked on http/1.0", b"POST /toy HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, CLOSED),
    case("chunked not last", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, CLOSED),
    case("chunked twice", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, CLOSED),
    case("two expects", b"GET /toy HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n", 400, CLOSED),
    case("connection ends in the head", b"GET /toy HTTP/1.1\r\nHost: t\r\n", 400, CLOSED).then_client_closes(),

    // Not supported: their own statuses, then the close.
    case("http/2.0", b"GET /toy HTTP/2.0\r\nHost: t\r\n\r\n", 505, CLOSED),
    case("http/3.0", b"GET /toy HTTP/3.0\r\nHost: t\r\n\r\n", 505, CLOSED),
    case("http/0.9 style version", b"GET /toy HTTP/0.9\r\nHost: t\r\n\r\n", 505, CLOSED),
    case("gzip transfer coding", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, CLOSED),
    case("gzip then chunked", b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, CLOSED),
    case("unknown expectation", b"GET /toy HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n", 417, CLOSED),
];
