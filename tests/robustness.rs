//! The connection cap, the single executor, and malformed input beyond the
//! conformance table: every request gets a status line, nothing brings the server down.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::num::NonZeroUsize;
use std::time::Duration;

use common::{TestServer, test_config};

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
        .set_read_timeout(Some(common::READ_TIMEOUT))
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

/// A small deterministic generator (xorshift), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&[u8]] = &[
    b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /toy HTTP/1.0\r\n\r\n",
    b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
];

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b"\0",
    b"\x7f",
    b"\xff",
    b"HTTP/2.0",
    b"HTTP/1.0",
    b"Host: x\r\n",
    b"Content-Length: 9\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"*",
    b"/",
    b"%",
    b"[::1]",
    b"\r\n\r\n",
    b"Expect: 100-continue\r\n",
    b"-1",
    b"99999999999999999999",
];

/// Mutates a valid request: flips, inserts, deletes, duplicates and splices bytes.
fn mutate(random: &mut Random, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(5) {
            0 if at < bytes.len() => bytes[at] = random.next() as u8,
            1 => {
                let piece = INTERESTING[random.below(INTERESTING.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
            2 if at < bytes.len() => {
                let end = (at + 1 + random.below(8)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let start = random.below(bytes.len());
                let end = (start + 1 + random.below(16)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.insert(at.min(bytes.len()), random.next() as u8),
        }
    }
    bytes
}

#[test]
fn mutated_requests_always_get_a_status_line_and_never_a_silent_close() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(500).into();
    config.delay = Duration::ZERO.into();
    let server = TestServer::start(config);
    let mut random = Random(0x5eed_1234_abcd_0001);
    let mut silent = Vec::new();
    for round in 0..1500 {
        let seed = SEEDS[round % SEEDS.len()];
        let request = mutate(&mut random, seed);
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream.write_all(&request).unwrap();
        // Half-close: an incomplete head must still be answered (400), not dropped.
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if !answer.starts_with(b"HTTP/1.1 ") {
            silent.push(String::from_utf8_lossy(&request).into_owned());
        }
    }
    assert!(
        silent.is_empty(),
        "{} requests got no status line, e.g. {:?}",
        silent.len(),
        &silent[..silent.len().min(5)]
    );
    assert_eq!(server.client().get("/healthz").status, 200);
}
