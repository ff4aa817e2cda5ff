//! Generators of client input for the property tests: request-like token soup, and
//! the lengths of the pieces it arrives in.

use proptest::prelude::*;

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
        "é".as_bytes(),
        b"\xcd\x90",
        b": ",
        b" ",
        b"\t",
        b"abc",
        b"0\r\n\r\n",
    ])
    .prop_map(<[u8]>::to_vec);
    prop_oneof![4 => fixed, 1 => prop::collection::vec(any::<u8>(), 1..8)]
}

pub fn request_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..40).prop_map(|tokens| tokens.concat())
}

pub fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 0..24)
}
