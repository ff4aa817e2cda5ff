//! Feeds arbitrary bytes, after the preface, to one in-memory HTTP/2 connection of
//! the toy server (its /toy without a wait), split at arbitrary read boundaries.
//! The connection must end (the input ends, so the client is gone), without a
//! panic, and what the server wrote must be whole frames: each 9-byte header's
//! length followed by that many bytes.
//!
//! Input format: the first byte `n` (mod 16) says how many of the following bytes
//! are piece lengths; the rest is what the client sends after the preface.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use smol_toy::Toy;
use smol_toy::testing::{HTTP2_PREFACE, InMemoryServer, MemoryStream, default_limits};

fn server() -> &'static InMemoryServer<Toy> {
    static SERVER: OnceLock<InMemoryServer<Toy>> = OnceLock::new();
    SERVER.get_or_init(|| InMemoryServer::new(Toy::new(Duration::ZERO), default_limits()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (pieces, frames) = rest.split_at(count);
    let mut input = HTTP2_PREFACE.to_vec();
    input.extend_from_slice(frames);
    let pieces: Vec<usize> = pieces.iter().map(|&n| usize::from(n)).collect();
    let (stream, _) = server().serve_http2(MemoryStream::new(input, pieces));
    let mut output = stream.output();
    while !output.is_empty() {
        assert!(output.len() >= 9, "a cut frame header: {output:?}");
        let length = u32::from_be_bytes([0, output[0], output[1], output[2]]) as usize;
        assert!(output.len() >= 9 + length, "a cut frame: {output:?}");
        output = &output[9 + length..];
    }
});
