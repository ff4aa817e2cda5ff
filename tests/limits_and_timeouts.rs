//! Head size limits, enforced as the head arrives, and the header, keep-alive and
//! write timeouts.

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{TestServer, over_each_stream, test_config};
use smol_toy::{Acceptor, Peer, Security, Socket};

over_each_stream! {
    /// A GET /toy head of exactly `size` bytes, padded with header fields of about
    /// 1 KiB each.
    fn head_of_size(size: usize) -> Vec<u8> {
        let mut head = b"GET /toy HTTP/1.1\r\nHost: t\r\n".to_vec();
        let mut field = 0;
        while size - head.len() > 1100 {
            head.extend_from_slice(format!("X-Pad-{field}: {}\r\n", "p".repeat(1000)).as_bytes());
            field += 1;
        }
        head.extend_from_slice(b"X-Last: ");
        head.resize(size - 4, b'p');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), size);
        head
    }

    #[test]
    fn a_head_of_exactly_the_limit_is_served() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(&head_of_size(8192));
        assert_eq!(client.response().status, 200);
    }

    #[test]
    fn the_longest_header_line_async_h1_decodes_is_served() {
        let mut config = test_config();
        config.max_head_size = 16 * 1024;
        let server = start(config);
        let longest = smol_toy::testing::MAX_FIELD_LINE;
        let line = format!("X-Long: {}", "v".repeat(longest - "X-Long: ".len()));
        let mut client = server.client();
        client.send(format!("GET /toy HTTP/1.1\r\nHost: t\r\n{line}\r\n\r\n").as_bytes());
        assert_eq!(client.response().status, 200);
        let mut client = server.client();
        client.send(format!("GET /toy HTTP/1.1\r\nHost: t\r\n{line}v\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 431);
        assert!(
            response.json()["detail"]
                .as_str()
                .unwrap()
                .contains("header line")
        );
    }

    #[test]
    fn a_head_one_byte_over_the_limit_gets_431() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(&head_of_size(8193));
        let response = client.response();
        assert_eq!(response.status, 431);
        assert!(response.says_close());
    }

    #[test]
    fn a_larger_configured_limit_is_honoured() {
        let mut config = test_config();
        config.max_head_size = 64 * 1024;
        let server = start(config);
        let mut client = server.client();
        // Many fields, each under async-h1's own 8 KiB, 64 KiB in all.
        let mut head = b"GET /toy HTTP/1.1\r\nHost: t\r\n".to_vec();
        for i in 0..31 {
            head.extend_from_slice(format!("X-Field-{i:02}: {}\r\n", "v".repeat(2000)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(
            head.len() > 60 * 1024 && head.len() <= 64 * 1024,
            "{}",
            head.len()
        );
        client.send(&head);
        assert_eq!(client.response().status, 200);
        // One field of 8 KiB or more cannot be decoded by async-h1 at any limit.
        let mut client = server.client();
        client.send(
            format!(
                "GET /toy HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
                "v".repeat(9000)
            )
            .as_bytes(),
        );
        assert_eq!(client.response().status, 431);
    }

    /// The status a GET /toy with `fields` header fields (Host among them) gets.
    fn status_with_fields(fields: usize) -> u16 {
        let server = start(test_config());
        let mut client = server.client();
        let mut head = b"GET /toy HTTP/1.1\r\nHost: t\r\n".to_vec();
        for i in 1..fields {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        client.send(&head);
        client.response().status
    }

    #[test]
    fn a_hundred_header_fields_are_fine() {
        assert_eq!(status_with_fields(100), 200);
    }

    #[test]
    fn too_many_header_fields_get_431() {
        assert_eq!(status_with_fields(101), 431);
    }

    /// Sends `opening`, then 16 KiB without a line feed; returns the status and how
    /// long it took to come. The server may close while the client is still writing.
    fn status_for_endless_line(opening: &[u8]) -> (u16, Duration) {
        let server = start(test_config());
        let mut client = server.client();
        let started = Instant::now();
        client.send(opening);
        let chunk = [b'a'; 1024];
        for _ in 0..16 {
            if client.try_send(&chunk).is_err() {
                break;
            }
        }
        (client.response().status, started.elapsed())
    }

    /// The answer must come at the limit, not at the 10 s header timeout.
    #[test]
    fn an_endless_header_line_is_cut_off_at_the_limit_at_once() {
        let (status, elapsed) = status_for_endless_line(b"GET /toy HTTP/1.1\r\nHost: t\r\nX-Endless: ");
        assert_eq!(status, 431);
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn an_endless_request_line_gets_414_at_once() {
        let (status, elapsed) = status_for_endless_line(b"GET /");
        assert_eq!(status, 414);
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn a_slow_head_gets_408_at_the_header_timeout() {
        let mut config = test_config();
        config.header_timeout = Duration::from_millis(300).into();
        let server = start(config);
        let mut client = server.client();
        let started = Instant::now();
        client.send(b"GET /toy HTTP/1.1\r\n");
        let response = client.response();
        let elapsed = started.elapsed();
        assert_eq!(response.status, 408);
        assert!(response.says_close());
        assert!(client.is_closed());
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    #[test]
    fn trickling_bytes_does_not_extend_the_header_timeout() {
        let mut config = test_config();
        config.header_timeout = Duration::from_millis(400).into();
        let server = start(config);
        let mut client = server.client();
        let started = Instant::now();
        for byte in b"GET /toy HTTP/1.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz".iter() {
            if client.try_send(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_millis(600) {
                break;
            }
        }
        let response = client.response();
        assert_eq!(response.status, 408);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Slow-body clients (R-U-Dead-Yet): the response does not wait for the body, and an
    /// unread body that trickles in is cut off at the header timeout.
    #[test]
    fn a_trickled_unread_body_is_cut_off_at_the_header_timeout() {
        let mut config = test_config();
        config.header_timeout = Duration::from_millis(400).into();
        let server = start(config);
        let mut client = server.client();
        client.send(b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nab");
        assert_eq!(client.response().status, 405);
        let started = Instant::now();
        while client.try_send(b"c").is_ok() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(350) && elapsed < Duration::from_secs(2),
            "the slow body was cut after {elapsed:?}"
        );
    }

    #[test]
    fn an_idle_connection_closes_at_the_keep_alive_timeout() {
        let mut config = test_config();
        config.keep_alive_timeout = Duration::from_millis(300).into();
        let server = start(config);
        let mut client = server.client();
        assert_eq!(client.get("/healthz").status, 200);
        let started = Instant::now();
        assert!(client.closes_within(Duration::from_secs(3)));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    #[test]
    fn a_connection_that_never_sends_closes_at_the_header_timeout() {
        let mut config = test_config();
        config.header_timeout = Duration::from_millis(300).into();
        config.keep_alive_timeout = Duration::from_secs(30).into();
        let server = start(config);
        let mut client = server.client();
        let started = Instant::now();
        assert!(client.closes_within(Duration::from_secs(3)));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    /// A client busy elsewhere (wrk opening 10,000 connections) may send its first
    /// request later than the keep-alive timeout; it has the header timeout, as with
    /// nginx and Go's net/http.
    #[test]
    fn a_first_request_later_than_the_keep_alive_timeout_is_served() {
        let mut config = test_config();
        config.header_timeout = Duration::from_secs(5).into();
        config.keep_alive_timeout = Duration::from_millis(200).into();
        let server = start(config);
        let mut client = server.client();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(client.get("/healthz").status, 200);
        // Between requests the keep-alive timeout holds.
        let started = Instant::now();
        assert!(client.closes_within(Duration::from_secs(3)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn timeouts_never_touch_a_request_waiting_in_its_handler() {
        let mut config = test_config();
        config.delay = Duration::from_millis(800).into();
        config.header_timeout = Duration::from_millis(200).into();
        config.keep_alive_timeout = Duration::from_millis(200).into();
        let server = start(config);
        let mut client = server.client();
        let response = client.get("/toy");
        assert_eq!(response.status, 200);
        assert_eq!(response.body_text(), r#"{"result":1}"#);
    }

    #[test]
    fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
        let mut config = test_config();
        config.write_timeout = Duration::from_millis(300).into();
        config.delay = Duration::ZERO.into();
        let server = start(config);
        let mut client = server.client();
        // Pipeline far more requests than the socket buffers hold responses for, and
        // never read: the server's writes block, then time out and drop the connection.
        let request = b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1000);
        let started = Instant::now();
        let mut sent_all = true;
        for _ in 0..200 {
            if client.try_send(&request).is_err() {
                sent_all = false;
                break;
            }
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        assert!(
            !sent_all,
            "the server never dropped a client that does not read"
        );
        // The server still serves others.
        assert_eq!(server.client().get("/healthz").status, 200);
    }
}

/// The address of the client whose connection [`StallsOne`] never makes a stream of.
static STALLED: OnceLock<SocketAddr> = OnceLock::new();

/// Never makes a stream of the socket of the client at `STALLED` (as a TLS
/// handshake whose client sends nothing); serves the others' sockets as they are.
/// Connections reach `accept` in no set order, so the client is named, not counted.
struct StallsOne;

impl Acceptor for StallsOne {
    type Stream = Socket;

    async fn accept(&self, socket: Socket, peer: &Peer) -> std::io::Result<(Socket, Security)> {
        let stalled = loop {
            match STALLED.get() {
                Some(addr) => break *addr,
                None => async_io::Timer::after(Duration::from_millis(1)).await,
            };
        };
        if *peer == Peer::Ip(stalled) {
            std::future::pending::<()>().await;
        }
        Ok((socket, Security::Plain))
    }
}

#[test]
fn a_stream_not_ready_in_time_is_cut_at_the_header_timeout_and_delays_no_one() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(300).into();
    let server = TestServer::start_with_acceptor(config, StallsOne);
    let mut stalled = server.client();
    STALLED.set(stalled.stream().local_addr().unwrap()).unwrap();
    stalled.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let started = Instant::now();
    // Others are served meanwhile.
    assert_eq!(server.client().get("/healthz").status, 200);
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(stalled.closes_within(Duration::from_secs(2)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "closed after {waited:?}"
    );
    let cut = "smol_toy_connections_closed_total{reason=\"header_timeout\"} 1\n";
    let metrics = server.metrics_with(cut);
    assert!(metrics.contains(cut), "{metrics}");
}
