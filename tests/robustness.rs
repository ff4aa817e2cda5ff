//! The connection cap, the single executor, and malformed input beyond the
//! conformance table, over real TCP: every request gets a status line, nothing
//! brings the server down.

mod common;
mod strategies;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::Duration;

use common::{TestServer, test_config};
use proptest::prelude::*;
use strategies::{pieces, request_like};

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    let mut config = test_config();
    config.max_connections = NonZeroUsize::new(2);
    let server = TestServer::start(config);
    let mut first = server.client();
    let mut second = server.client();
    assert_eq!(first.get("/healthz").status, 200);
    assert_eq!(second.get("/healthz").status, 200);
    // The third connects (the kernel completes the handshake into the backlog) but
    // is not served while two are open.
    let mut third = server.client();
    third.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    third
        .stream()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = third.stream().read(&mut byte);
    assert!(waited.is_err(), "served over the cap: {waited:?}");
    third
        .stream()
        .set_read_timeout(Some(common::client::READ_TIMEOUT))
        .unwrap();
    drop(first);
    assert_eq!(third.response().status, 200);
}

/// async-h1 answers `Expect: 100-continue` on async-global-executor, which starts a
/// second thread pool; smol-toy handles it on its own executor.
#[test]
fn no_second_executor_is_started() {
    let server = TestServer::start(test_config());
    for request in [
        &b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"[..],
        b"GET /toy HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
    ] {
        let mut client = server.client();
        client.send(request);
        client.response();
    }
    std::thread::sleep(Duration::from_millis(100));
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .collect();
    assert!(
        !names.iter().any(|name| name.starts_with("async-global")),
        "threads: {names:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Over real TCP, with the pieces in separate writes and the client's sending side
    /// closed after them: whatever arrives gets a status line, never a silent close.
    #[test]
    fn request_like_input_over_tcp_always_gets_a_status_line(
        input in request_like(),
        pieces in pieces(),
    ) {
        prop_assume!(input.iter().any(|&b| b != b'\r' && b != b'\n'));
        let answer = send_in_pieces(server().addr, &input, &pieces);
        prop_assert!(
            answer.starts_with(b"HTTP/1.1 "),
            "no status line for {:?}: {:?}",
            String::from_utf8_lossy(&input),
            String::from_utf8_lossy(&answer)
        );
    }
}

/// One server for every case of the property, started on first use.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut config = test_config();
        config.header_timeout = Duration::from_millis(500).into();
        config.delay = Duration::ZERO.into();
        TestServer::start(config)
    })
}

/// Sends `input` in pieces of the given lengths (the rest in one), closes the
/// sending side, and returns everything the server sent until it closed.
fn send_in_pieces(addr: SocketAddr, input: &[u8], pieces: &[usize]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut rest = input;
    for &length in pieces.iter().chain([&input.len()]) {
        let (piece, tail) = rest.split_at(length.min(rest.len()));
        // The server may close while pieces are still being sent.
        if piece.is_empty() || stream.write_all(piece).is_err() {
            break;
        }
        rest = tail;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}
