//! The per-request path (read, parse, route, encode, write) over in-memory I/O, so
//! that a regression shows without a network: `cargo bench --bench request_path`.
//!
//! Each benchmark serves one in-memory connection to its end with `InMemoryServer`,
//! the same code path a TCP connection takes, less the socket.

use std::time::Duration;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use smol_toy::Toy;
use smol_toy::testing::{InMemoryServer, MemoryStream, default_limits};

/// The allocator the binary uses, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

/// What wrk sends.
const WRK_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:4567\r\n\r\n";
/// What curl sends.
const CURL_TOY: &[u8] =
    b"GET /toy HTTP/1.1\r\nHost: localhost:4567\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
/// What a browser sends, roughly: a dozen fields.
const BROWSER_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost:4567\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\n\r\n";
/// A request that gets 400.
const MISSING_HOST: &[u8] = b"GET /healthz HTTP/1.1\r\n\r\n";

/// Serves `requests` copies of `request` on one connection and checks that each got
/// a response, so that a broken path cannot benchmark fast.
fn serve(bencher: Bencher, request: &[u8], requests: usize) {
    let server = InMemoryServer::new(Toy::new(Duration::ZERO), default_limits());
    let input = request.repeat(requests);
    bencher
        .counter(ItemsCount::new(requests))
        .with_inputs(|| MemoryStream::new(input.clone(), []))
        .bench_local_values(|stream| {
            let stream = server.serve(black_box(stream));
            assert_eq!(
                stream
                    .output()
                    .windows(9)
                    .filter(|w| w == b"HTTP/1.1 ")
                    .count(),
                requests
            );
            stream
        });
}

#[divan::bench]
fn healthz_wrk(bencher: Bencher) {
    serve(bencher, WRK_HEALTHZ, 1);
}

#[divan::bench]
fn healthz_wrk_pipelined_16(bencher: Bencher) {
    serve(bencher, WRK_HEALTHZ, 16);
}

#[divan::bench]
fn toy_no_delay_curl(bencher: Bencher) {
    serve(bencher, CURL_TOY, 1);
}

#[divan::bench]
fn healthz_browser_headers(bencher: Bencher) {
    serve(bencher, BROWSER_HEALTHZ, 1);
}

#[divan::bench]
fn bad_request_400(bencher: Bencher) {
    serve(bencher, MISSING_HOST, 1);
}

/// The floor under every benchmark above: async-h1 alone decoding the wrk request
/// and encoding a `/healthz` response, with nothing of smol-toy around them.
mod async_h1_alone {
    use super::*;
    use smol::io::{AsyncReadExt, Cursor};

    #[divan::bench]
    fn decode(bencher: Bencher) {
        bencher.bench_local(|| {
            let decoded = smol::block_on(async_h1::server::decode(Cursor::new(
                black_box(WRK_HEALTHZ).to_vec(),
            )));
            decoded.expect("decodes").expect("a request").0
        });
    }

    #[divan::bench]
    fn encode(bencher: Bencher) {
        bencher.bench_local(|| {
            let response = smol_toy::handler::json_response(
                http_types::StatusCode::Ok,
                b"{\"status\":\"ok\"}".to_vec(),
            );
            let mut out = Vec::new();
            smol::block_on(
                async_h1::server::Encoder::new(response, http_types::Method::Get)
                    .read_to_end(&mut out),
            )
            .expect("encodes");
            out
        });
    }
}
