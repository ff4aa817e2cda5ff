//! Turning answers into bytes: dispatch of what the application does not answer
//! itself (OPTIONS, 404, 405, 501) and encoding with async-h1's `Encoder`.

use std::cell::RefCell;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use http_types::headers::{ALLOW, CONNECTION, DATE, HeaderValue};
use http_types::{Method, Response, StatusCode};
use smol::io::AsyncReadExt;

use super::finish_in_memory;
use super::head::HttpError;
use crate::routes::{error_body, json_response};

/// Whether the connection stays open after a response, and how it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: no Connection header.
    KeepAlive,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`, then the close.
    Close,
}

/// An error response: the status and a JSON body naming it, with the detail. The
/// caller sends it with `Persistence::Close`.
pub fn error_response(error: &HttpError) -> Response {
    json_response(error.status, error_body(error.status, Some(&error.detail)))
}

/// The answer to a method the path does not take, or to OPTIONS.
///
/// OPTIONS gets 200 with an empty body rather than 204: async-h1's encoder always
/// writes Content-Length, which a 204 must not carry (RFC 9110 §8.6).
pub fn method_response(method: Option<&Method>, allowed: &[Method]) -> Response {
    let mut response = if method == Some(&Method::Options) {
        Response::new(StatusCode::Ok)
    } else {
        json_response(
            StatusCode::MethodNotAllowed,
            error_body(StatusCode::MethodNotAllowed, None),
        )
    };
    response.insert_header(ALLOW, allow_value(allowed));
    response
}

/// The answer for a path that does not exist: 404 for the methods every server
/// implements (RFC 9110 §9.1), 501 for any other.
pub fn missing_path_response(method: Option<&Method>) -> Response {
    let status = match method {
        Some(Method::Get | Method::Head | Method::Options) => StatusCode::NotFound,
        _ => StatusCode::NotImplemented,
    };
    json_response(status, error_body(status, None))
}

/// `GET, HEAD, OPTIONS`: the path's methods, and OPTIONS, which every path takes.
pub fn allow_value(allowed: &[Method]) -> String {
    let mut value = String::new();
    for method in allowed.iter().chain([&Method::Options]) {
        if !value.is_empty() {
            value.push_str(", ");
        }
        value.push_str(method.as_ref());
    }
    value
}

/// Appends the encoded response (head and, unless the request was HEAD, body) to
/// `out`, so that it can leave in a single write.
pub fn encode(
    mut response: Response,
    request_method: Method,
    persistence: Persistence,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => {
            response.insert_header(CONNECTION, "keep-alive");
        }
        Persistence::Close => {
            response.insert_header(CONNECTION, "close");
        }
    }
    response.insert_header(DATE, current_date());
    // The body is in memory, so one poll finishes the encoder.
    let mut encoder = async_h1::server::Encoder::new(response, request_method);
    match finish_in_memory(encoder.read_to_end(out)) {
        Some(result) => result.map(drop),
        None => Err(io::Error::other(
            "the encoder waited on a body held in memory",
        )),
    }
}

/// The `Date` header for the current second. async-h1's encoder formats one for every
/// response that has none, which costs more than the rest of the head; each thread
/// formats it once a second instead.
fn current_date() -> HeaderValue {
    thread_local! {
        static CACHED: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with_borrow_mut(|cached| match cached {
        Some((at, date)) if *at == second => date.clone(),
        _ => {
            let date: HeaderValue = httpdate::fmt_http_date(now)
                .parse()
                .expect("an HTTP date is ASCII");
            *cached = Some((second, date.clone()));
            date
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(response: Response, method: Method, persistence: Persistence) -> String {
        let mut out = Vec::new();
        encode(response, method, persistence, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_response_carries_the_current_date() {
        let text = encoded(Response::new(200), Method::Get, Persistence::KeepAlive);
        let date = text
            .lines()
            .find_map(|line| line.strip_prefix("date: "))
            .expect("a date header");
        let sent = httpdate::parse_http_date(date).expect("an HTTP date");
        let age = SystemTime::now()
            .duration_since(sent)
            .expect("not in the future");
        assert!(age.as_secs() <= 1, "{date} is {age:?} old");
    }

    #[test]
    fn allow_lists_options_last() {
        assert_eq!(
            allow_value(&[Method::Get, Method::Head]),
            "GET, HEAD, OPTIONS"
        );
    }

    #[test]
    fn head_responses_keep_the_length_but_not_the_body() {
        let response = json_response(StatusCode::Ok, b"{\"result\":1}".to_vec());
        let text = encoded(response, Method::Head, Persistence::KeepAlive);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-length: 12\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn persistence_sets_the_connection_header() {
        let close = encoded(Response::new(200), Method::Get, Persistence::Close);
        assert!(close.contains("connection: close\r\n"), "{close}");
        let http10 = encoded(
            Response::new(200),
            Method::Get,
            Persistence::KeepAliveHttp10,
        );
        assert!(http10.contains("connection: keep-alive\r\n"), "{http10}");
        let http11 = encoded(Response::new(200), Method::Get, Persistence::KeepAlive);
        assert!(!http11.contains("connection:"), "{http11}");
    }

    #[test]
    fn unknown_paths_get_404_or_501_by_method() {
        assert_eq!(
            missing_path_response(Some(&Method::Get)).status(),
            StatusCode::NotFound
        );
        assert_eq!(
            missing_path_response(Some(&Method::Post)).status(),
            StatusCode::NotImplemented
        );
        assert_eq!(
            missing_path_response(None).status(),
            StatusCode::NotImplemented
        );
    }
}
