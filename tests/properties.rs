//! Properties of the connection layer on random input, served in memory and split
//! into random pieces: it never panics, it answers at most once per request, every
//! answer is a whole response, and it never closes on a bad request without first
//! sending a status line.

mod cases;

use std::time::Duration;

use proptest::prelude::*;
use smol_toy::Toy;
use smol_toy::config::Config;
use smol_toy::connection::{Limits, MemoryStream, serve_in_memory};

use cases::CASES;

/// One response as it appeared on the wire.
#[derive(Debug)]
struct Parsed {
    status: u16,
    says_close: bool,
}

/// Splits the server's output into responses. Fails on anything that is not a
/// sequence of whole responses: a status line, headers, and exactly Content-Length
/// bytes of body (none after a HEAD, recognised by the next status line or the end
/// following at once; every body the server sends is JSON and starts with `{`).
fn parse_responses(mut output: &[u8]) -> Result<Vec<Parsed>, String> {
    let mut responses = Vec::new();
    while !output.is_empty() {
        let text = String::from_utf8_lossy(output);
        let head_end = find(output, b"\r\n\r\n").ok_or(format!("a head never ends: {text:?}"))?;
        let head = std::str::from_utf8(&output[..head_end]).map_err(|e| format!("head: {e}"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or(format!("not a status line: {status_line:?}"))?;
        let mut length = None;
        let mut says_close = false;
        for line in lines {
            let (name, value) = line.split_once(": ").ok_or(format!("bad field {line:?}"))?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "connection" => says_close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let length = length.ok_or(format!("no Content-Length: {head:?}"))?;
        output = &output[head_end + 4..];
        let bodiless = output.is_empty() || output.starts_with(b"HTTP/1.1 ");
        if !bodiless {
            if output.len() < length || output[0] != b'{' {
                return Err(format!("short or odd body after {head:?}: {text:?}"));
            }
            output = &output[length..];
        }
        responses.push(Parsed { status, says_close });
    }
    Ok(responses)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The most heads `input` can hold: one per blank line that could end one, plus an
/// unfinished one at the end.
fn most_heads(input: &[u8]) -> usize {
    let ends = input.windows(2).filter(|w| w == b"\n\n").count()
        + input.windows(3).filter(|w| w == b"\n\r\n").count();
    ends + 1
}

/// Statuses that mean the request itself could not be read; the connection must close.
const PARSE_ERRORS: &[u16] = &[400, 408, 414, 417, 431, 505];

fn limits() -> Limits {
    Limits {
        // Small enough that random input reaches the size limit too.
        max_head_size: 1024,
        ..Limits::from(&Config::default())
    }
}

fn serve(input: Vec<u8>, pieces: Vec<usize>) -> MemoryStream {
    serve_in_memory(
        Toy::new(Duration::ZERO),
        limits(),
        MemoryStream::new(input, pieces),
    )
}

/// Checks the invariants that hold for any input.
fn check_invariants(input: &[u8], stream: &MemoryStream) -> Result<(), TestCaseError> {
    let responses = parse_responses(stream.output()).map_err(TestCaseError::fail)?;
    prop_assert!(
        responses.len() <= most_heads(input),
        "{} responses to at most {} requests",
        responses.len(),
        most_heads(input)
    );
    for (index, response) in responses.iter().enumerate() {
        let last = index + 1 == responses.len();
        prop_assert!(
            !response.says_close || last,
            "a response after `Connection: close`"
        );
        if PARSE_ERRORS.contains(&response.status) {
            prop_assert!(
                response.says_close && last,
                "{} left the connection open",
                response.status
            );
        }
    }
    if input.iter().any(|&b| b != b'\r' && b != b'\n') {
        prop_assert!(
            !responses.is_empty(),
            "no answer at all to {:?}",
            String::from_utf8_lossy(input)
        );
    }
    if stream.write_closed() {
        prop_assert!(
            responses.last().is_some_and(|r| r.says_close),
            "closed without saying so"
        );
    }
    Ok(())
}

/// Pieces of request-like text, so that random input often gets past the request line.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed = prop::sample::select(vec![
        &b"GET "[..],
        b"HEAD ",
        b"POST ",
        b"OPTIONS ",
        b"BREW ",
        b"/toy",
        b"/healthz",
        b"*",
        b"/",
        b"?q=1",
        b" HTTP/1.1",
        b" HTTP/1.0",
        b" HTTP/2.0",
        b"\r\n",
        b"\n",
        b"\r\n\r\n",
        b"Host: t\r\n",
        b"Host: a b\r\n",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: 70000\r\n",
        b"Content-Length: x\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Expect: 100-continue\r\n",
        b"Expect: nope\r\n",
        b": ",
        b" ",
        b"\t",
        b"abc",
        b"0\r\n\r\n",
    ])
    .prop_map(<[u8]>::to_vec);
    prop_oneof![4 => fixed, 1 => prop::collection::vec(any::<u8>(), 1..8)]
}

fn request_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..40).prop_map(|tokens| tokens.concat())
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_get_whole_responses_or_none(
        input in prop::collection::vec(any::<u8>(), 0..600),
        pieces in pieces(),
    ) {
        let stream = serve(input.clone(), pieces);
        check_invariants(&input, &stream)?;
    }

    #[test]
    fn request_like_input_gets_whole_responses_or_none(input in request_like(), pieces in pieces()) {
        let stream = serve(input.clone(), pieces);
        check_invariants(&input, &stream)?;
    }

    /// Conformance cases pipelined on one connection, split anywhere, get their
    /// statuses in order; the first case that closes the connection ends the answers.
    #[test]
    fn pipelined_cases_are_answered_in_order(
        picks in prop::collection::vec(0..CASES.len(), 1..6),
        pieces in pieces(),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for &pick in &picks {
            let case = &CASES[pick];
            input.extend_from_slice(case.request);
            expected.push(case.status);
            // A case that closes, or leaves a body unread, ends what is answered.
            if !case.stays_open || case.name == "connection ends in the head" {
                break;
            }
        }
        let stream = serve(input.clone(), pieces);
        check_invariants(&input, &stream)?;
        let statuses: Vec<u16> = parse_responses(stream.output())
            .map_err(TestCaseError::fail)?
            .iter()
            .map(|r| r.status)
            .collect();
        prop_assert_eq!(statuses, expected);
    }
}

/// The checker itself must catch what it exists to catch.
#[test]
fn the_checker_rejects_broken_output() {
    let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
    assert!(parse_responses(&whole).is_ok());
    assert!(
        parse_responses(&whole[..whole.len() - 1]).is_err(),
        "short body"
    );
    assert!(
        parse_responses(b"HTTP/1.1 200 OK\r\n").is_err(),
        "unfinished head"
    );
    assert!(parse_responses(b"garbage").is_err(), "no status line");

    let closed_then_more = [
        &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"[..],
        &whole,
    ]
    .concat();
    let stream = serve_in_memory(
        Toy::new(Duration::ZERO),
        limits(),
        MemoryStream::new(Vec::new(), []),
    );
    assert_eq!(parse_responses(&closed_then_more).unwrap().len(), 2);
    assert!(
        check_invariants(b"x", &stream).is_err(),
        "silence after input"
    );
    assert!(most_heads(b"GET / HTTP/1.1\r\n\r\nGET") == 2);
}
