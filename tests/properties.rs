//! Properties of the connection layer on random input, served in memory and split
//! into random pieces: it never panics, it answers at most once per request, every
//! answer is a whole response, and it never closes on a bad request without first
//! sending a status line.

mod cases;
mod invariants;
mod strategies;

use std::time::Duration;

use proptest::prelude::*;
use smol_toy::Toy;
use smol_toy::testing::{MemoryStream, serve_in_memory};

use cases::CASES;
use invariants::{check, limits, most_heads, parse_responses, serve};
use strategies::{pieces, request_like};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_get_whole_responses_or_none(
        input in prop::collection::vec(any::<u8>(), 0..600),
        pieces in pieces(),
    ) {
        let stream = serve(input.clone(), pieces);
        check(&input, &stream).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn request_like_input_gets_whole_responses_or_none(input in request_like(), pieces in pieces()) {
        let stream = serve(input.clone(), pieces);
        check(&input, &stream).map_err(TestCaseError::fail)?;
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
        let mut names = Vec::new();
        for &pick in &picks {
            let case = &CASES[pick];
            input.extend_from_slice(case.request);
            expected.push(case.status);
            names.push(case.name);
            // A case that closes, or after which the client closes, ends what is answered.
            if !case.stays_open || case.client_closes {
                break;
            }
        }
        let stream = serve(input.clone(), pieces);
        let statuses: Vec<u16> = check(&input, &stream)
            .map_err(TestCaseError::fail)?
            .iter()
            .map(|r| r.status)
            .collect();
        prop_assert_eq!(statuses, expected, "cases {:?}", names);
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
    assert!(check(b"x", &stream).is_err(), "silence after input");
    assert!(most_heads(b"GET / HTTP/1.1\r\n\r\nGET") == 2);
}

/// Found by the fuzzer: a non-ASCII UTF-8 header value made http-types panic inside
/// async-h1's decoder, and the connection closed without an answer.
#[test]
fn fuzz_crash_non_ascii_header_value_gets_400() {
    assert_one_answer(
        b"GET /toy HTTP/1.1\r\nHost: t\r\nConnection: clo\xcd\x90\t\n\r\n",
        400,
    );
}

/// Found by the fuzzer: a host that percent-encodes bytes that are not UTF-8, after
/// capitals, in the Host header or in an absolute-form target, once closed the
/// connection without an answer. url's host parsing (inside async-h1's decoder)
/// refuses both, and the client gets a 400.
#[test]
fn fuzz_crash_percent_encoded_non_ascii_host_gets_400() {
    assert_one_answer(b"GET /toy HTTP/1.1\r\nHost: ZZZZ%Ccontent-le9\r\n\r\n", 400);
    assert_one_answer(
        b"GET http://dfdddddGET%ddddddddddddd?doy HTTP/1.1\r\nhOsT: t\r\n\r\n",
        400,
    );
}

/// Serves `input` in one piece; the invariants hold and exactly one response, with
/// `status`, comes back.
fn assert_one_answer(input: &[u8], status: u16) {
    let stream = serve(input.to_vec(), Vec::new());
    let responses = check(input, &stream).unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, status);
}
