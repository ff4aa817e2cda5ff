//! HTTP/3 over QUIC, in process, with h3's own client over quinn on smol: every
//! route as over the other protocols, many streams at once, the Alt-Svc that
//! names it, the access log's and the metrics' protocol, shutdown's GOAWAY.

mod common;

use std::time::{Duration, Instant};

use common::h3_client::{self, H3Connection};
use common::{TestServer, sample, test_config};
use smol_toy::Config;

fn start(config: Config) -> TestServer {
    TestServer::start_http3(config).0
}

async fn connect(server: &TestServer) -> H3Connection {
    h3_client::connect(server.addr, server.ca()).await
}

/// Asks `/toy` on a stream of `h3` of its own, in a task: its answer's status.
fn spawn_toy(h3: &H3Connection) -> smol::Task<u16> {
    let mut send = h3.send.clone();
    smol::spawn(async move {
        let request = http::Request::get("https://localhost/toy")
            .body(())
            .unwrap();
        let mut stream = send.send_request(request).await.unwrap();
        stream.finish().await.unwrap();
        stream.recv_response().await.unwrap().status().as_u16()
    })
}

/// Whether the server closed the connection with `code`.
fn closed_with(ended: &h3::error::ConnectionError, code: h3::error::Code) -> bool {
    matches!(ended, h3::error::ConnectionError::Remote(
        h3::quic::ConnectionErrorIncoming::ApplicationClose { error_code }) if *error_code == code.value())
}

#[test]
fn every_route_answers_over_http3_as_over_https() {
    let server = start(test_config());
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        let toy = h3.get("/toy").await.unwrap();
        assert_eq!(toy.status(), 200);
        assert_eq!(toy.head.version, http::Version::HTTP_3);
        assert_eq!(toy.json(), serde_json::json!({"result": 1}));
        assert_eq!(toy.header("content-length"), Some("12"));
        assert!(toy.header("x-request-id").is_some());
        assert_eq!(
            toy.header("strict-transport-security"),
            Some("max-age=31536000")
        );
        assert_eq!(toy.header("alt-svc"), None, "HTTP/3 does not name itself");
        let healthz = h3.get("/healthz").await.unwrap();
        assert_eq!(healthz.json(), serde_json::json!({"status": "ok"}));
        let missing = h3.get("/nope").await.unwrap();
        assert_eq!(missing.status(), 404);
        let head = http::Request::head("https://localhost/toy")
            .body(())
            .unwrap();
        let head = h3.request(head).await.unwrap();
        assert_eq!((head.status(), head.body.len()), (200, 0));
        assert_eq!(head.header("content-length"), Some("12"));
        let post = http::Request::post("https://localhost/toy")
            .body(())
            .unwrap();
        let post = h3.request(post).await.unwrap();
        assert_eq!(post.status(), 405);
        assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));
    });
}

#[test]
fn https_over_tcp_says_http3_is_on_the_same_port() {
    let server = start(test_config());
    let toy = server.client().get("/toy");
    let expected = format!("h3=\":{}\"; ma=86400", server.addr.port());
    assert_eq!(toy.header("alt-svc"), Some(expected.as_str()));
    // Without HTTP/3, HTTPS says nothing of it.
    let https_only = TestServer::start_tls(test_config()).0;
    assert_eq!(https_only.client().get("/toy").header("alt-svc"), None);
}

#[test]
fn a_thousand_toy_streams_on_ten_connections_wait_together() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = start(config);
    smol::block_on(async {
        let mut connections = Vec::new();
        for _ in 0..10 {
            connections.push(connect(&server).await);
        }
        let started = Instant::now();
        let mut answers = Vec::new();
        for connection in &connections {
            for _ in 0..100 {
                answers.push(spawn_toy(connection));
            }
        }
        for answer in answers {
            assert_eq!(answer.await, 200);
        }
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "{took:?}");
    });
}

#[test]
fn http3_requests_are_counted_by_protocol_and_quic_handshakes_by_result() {
    let server = start(test_config());
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        for _ in 0..3 {
            assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
        }
    });
    let metrics = server.metrics_with("protocol=\"http3\"} 3");
    assert!(
        metrics.contains("smol_toy_http_requests_by_protocol_total{protocol=\"http3\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smol_toy_quic_handshakes_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smol_toy_http3_streams_total 3"),
        "{metrics}"
    );
}

#[test]
fn shutdown_sends_goaway_and_answers_the_streams_in_flight() {
    let mut config = test_config();
    config.delay = Duration::from_millis(500).into();
    let server = start(config);
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        let waiting = spawn_toy(&h3);
        // The stream is taken up before the shutdown.
        smol::Timer::after(Duration::from_millis(100)).await;
        server.shutdown();
        assert_eq!(waiting.await, 200, "the stream in flight is answered");
        let ended = (&mut h3.driver).await;
        assert!(ended.is_h3_no_error(), "closed with H3_NO_ERROR: {ended:?}");
    });
    server.stop();
}

/// A varint (RFC 9000 §16) in eight bytes.
fn varint8(value: u64) -> [u8; 8] {
    (value | 0xc000_0000_0000_0000).to_be_bytes()
}

/// Opens a request stream beside h3's and writes `bytes` on it, raw; the stream's
/// halves.
async fn raw_stream(h3: &H3Connection, bytes: &[u8]) -> (quinn::SendStream, quinn::RecvStream) {
    let (mut send, recv) = h3.quinn.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    (send, recv)
}

#[test]
fn headers_that_do_not_arrive_in_time_reset_the_stream() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(300).into();
    let server = start(config);
    smol::block_on(async {
        let h3 = connect(&server).await;
        // A HEADERS frame that says 10 bytes, and two of them.
        let (_send, mut recv) = raw_stream(&h3, &[0x01, 10, 0, 0]).await;
        let started = Instant::now();
        let read = recv.read_to_end(1024).await;
        let took = started.elapsed();
        let code = h3::error::Code::H3_REQUEST_INCOMPLETE.value();
        match read {
            Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(reset))) => {
                assert_eq!(reset.into_inner(), code);
            }
            other => panic!("not reset: {other:?}"),
        }
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    });
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_http3_attacks_total{kind=\"slow_headers\"}"
        ),
        1.0
    );
}

#[test]
fn a_frame_longer_than_the_cap_stops_its_stream_at_its_header() {
    let server = start(test_config());
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        // HEADERS that say 1 GiB; no byte of it follows.
        let mut header = vec![0x01];
        header.extend(varint8(1 << 30));
        let (send, _recv) = raw_stream(&h3, &header).await;
        let stopped = send.stopped().await.unwrap();
        let code = h3::error::Code::H3_EXCESSIVE_LOAD.value();
        assert_eq!(stopped.map(|c| c.into_inner()), Some(code));
        // The connection still serves.
        assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
    });
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_http3_attacks_total{kind=\"frame_too_large\"}"
        ),
        1.0
    );
}

#[test]
fn a_connection_with_no_stream_closes_at_the_keep_alive_timeout() {
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_millis(300).into();
    let server = start(config);
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
        let idle = Instant::now();
        let ended = (&mut h3.driver).await;
        let took = idle.elapsed();
        // The server's GOAWAY and close, or QUIC's idle timeout (the same
        // length): whichever fires first.
        let timed_out = matches!(ended, h3::error::ConnectionError::Timeout);
        assert!(ended.is_h3_no_error() || timed_out, "{ended:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    });
    let metrics = server.metrics_with("reason=\"idle_timeout\"} 1");
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_connections_closed_total{reason=\"idle_timeout\"}"
        ),
        1.0
    );
}

#[test]
fn a_cancelled_stream_drops_its_waiting_handler() {
    let mut config = test_config();
    config.delay = Duration::from_secs(30).into();
    let server = start(config);
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        let request = http::Request::get("https://localhost/toy")
            .body(())
            .unwrap();
        let mut stream = h3.send.send_request(request).await.unwrap();
        stream.finish().await.unwrap();
        smol::Timer::after(Duration::from_millis(200)).await;
        // A client cancels by stopping both halves (RFC 9114 §4.1.1).
        stream.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
        smol::Timer::after(Duration::from_millis(200)).await;
        assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
    });
    let metrics = server.metrics();
    let resets = sample(&metrics, "smol_toy_http3_streams_reset_total");
    assert_eq!(resets, 1.0, "{metrics}");
    // Only the scrape itself is in flight: the cancelled /toy no longer is.
    assert_eq!(sample(&metrics, "smol_toy_http_requests_in_flight"), 1.0);
}

#[test]
fn streams_beyond_the_limit_wait_for_one_to_end() {
    let mut config = test_config();
    config.max_concurrent_streams = 2;
    config.delay = Duration::from_millis(300).into();
    let server = start(config);
    smol::block_on(async {
        let h3 = connect(&server).await;
        let started = Instant::now();
        let answers: Vec<_> = (0..3).map(|_| spawn_toy(&h3)).collect();
        for answer in answers {
            assert_eq!(answer.await, 200);
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(600),
            "the third waited: {took:?}"
        );
    });
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let mut config = test_config();
    config.max_head_size = 1024;
    let server = start(config);
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        let request = http::Request::get("https://localhost/toy")
            .header("x-big", "x".repeat(2000))
            .body(())
            .unwrap();
        let refused = h3.request(request).await;
        let status = refused.map(|response| response.status());
        assert!(matches!(status, Ok(431) | Err(_)), "{status:?}");
        assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
    });
}

#[test]
fn a_connection_specific_field_is_a_malformed_request() {
    let server = start(test_config());
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        let request = http::Request::get("https://localhost/toy")
            .header("connection", "keep-alive")
            .body(())
            .unwrap();
        assert_eq!(h3.request(request).await.unwrap().status(), 400);
    });
}

#[test]
fn quic_connections_count_against_the_connection_cap() {
    let mut config = test_config();
    config.max_connections = std::num::NonZeroUsize::new(1);
    let server = start(config);
    smol::block_on(async {
        let mut first = connect(&server).await;
        assert_eq!(first.get("/healthz").await.unwrap().status(), 200);
        let second = h3_client::try_connect(h3_client::endpoint(server.ca()), server.addr).await;
        assert!(second.is_err(), "refused at the cap");
        assert_eq!(first.get("/healthz").await.unwrap().status(), 200);
    });
}

#[test]
fn a_client_goaway_with_no_stream_left_closes_the_connection_at_once() {
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_secs(30).into();
    let server = start(config);
    smol::block_on(async {
        let mut h3 = connect(&server).await;
        assert_eq!(h3.get("/healthz").await.unwrap().status(), 200);
        let started = Instant::now();
        h3.goaway.send(()).await.unwrap();
        let ended = (&mut h3.driver).await;
        let took = started.elapsed();
        assert!(ended.is_h3_no_error(), "{ended:?}");
        assert!(
            took < Duration::from_secs(1),
            "closed at once, not when idle: {took:?}"
        );
    });
    let metrics = server.metrics_with("reason=\"client_closed\"} 1");
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_connections_closed_total{reason=\"client_closed\"}"
        ),
        1.0
    );
}

#[test]
fn streams_opened_only_to_be_reset_close_the_connection() {
    let mut config = test_config();
    config.delay = Duration::from_secs(30).into();
    let server = start(config);
    let ended = smol::block_on(async {
        let mut h3 = connect(&server).await;
        for _ in 0..200 {
            let request = http::Request::get("https://localhost/toy")
                .body(())
                .unwrap();
            let Ok(mut stream) = h3.send.send_request(request).await else {
                break;
            };
            let cancelled = h3::error::Code::H3_REQUEST_CANCELLED;
            stream.stop_sending(cancelled);
            stream.stop_stream(cancelled);
        }
        (&mut h3.driver).await
    });
    assert!(
        closed_with(&ended, h3::error::Code::H3_EXCESSIVE_LOAD),
        "{ended:?}"
    );
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_http3_attacks_total{kind=\"rapid_reset\"}"
        ),
        1.0
    );
}

#[test]
fn a_flood_of_unidirectional_streams_closes_the_connection() {
    let server = start(test_config());
    let ended = smol::block_on(async {
        let mut h3 = connect(&server).await;
        for _ in 0..40 {
            // A stream of a reserved type (0x21), which h3 reads and drops.
            let Ok(mut stream) = h3.quinn.open_uni().await else {
                break;
            };
            if stream.write_all(&[0x40, 0x21, 0]).await.is_err() {
                break;
            }
            let _ = stream.finish();
        }
        (&mut h3.driver).await
    });
    assert!(
        closed_with(&ended, h3::error::Code::H3_EXCESSIVE_LOAD),
        "{ended:?}"
    );
    let metrics = server.metrics();
    let kind = "smol_toy_http3_attacks_total{kind=\"unidirectional_streams\"}";
    assert_eq!(sample(&metrics, kind), 1.0);
}

#[test]
fn a_second_control_stream_closes_the_connection_and_is_counted() {
    let server = start(test_config());
    let ended = smol::block_on(async {
        let mut h3 = connect(&server).await;
        let mut control = h3.quinn.open_uni().await.unwrap();
        // The control stream's type, then an empty SETTINGS frame.
        control.write_all(&[0x00, 0x04, 0x00]).await.unwrap();
        (&mut h3.driver).await
    });
    assert!(
        closed_with(&ended, h3::error::Code::H3_STREAM_CREATION_ERROR),
        "{ended:?}"
    );
    let kind = "smol_toy_http3_attacks_total{kind=\"unidirectional_streams\"}";
    assert_eq!(sample(&server.metrics(), kind), 1.0);
}

#[test]
fn a_client_that_stops_reading_is_cut_at_the_write_timeout() {
    let mut config = test_config();
    config.write_timeout = Duration::from_millis(300).into();
    let server = start(config);
    let (ended, took) = smol::block_on(async {
        // A window of 1 KiB on each stream, and /metrics' answer is larger.
        let mut transport = quinn::TransportConfig::default();
        transport.stream_receive_window(quinn::VarInt::from_u32(1024));
        let endpoint = h3_client::endpoint_with(server.ca(), transport);
        let mut h3 = h3_client::try_connect(endpoint, server.addr).await.unwrap();
        let request = http::Request::get("https://localhost/metrics")
            .body(())
            .unwrap();
        let mut stream = h3.send.send_request(request).await.unwrap();
        stream.finish().await.unwrap();
        // Never read: the answer stops at the window.
        let started = Instant::now();
        let ended = (&mut h3.driver).await;
        drop(stream);
        (ended, started.elapsed())
    });
    assert!(
        closed_with(&ended, h3::error::Code::H3_EXCESSIVE_LOAD),
        "{ended:?}"
    );
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "smol_toy_http3_attacks_total{kind=\"write_stalled\"}"
        ),
        1.0
    );
    let closed = "smol_toy_connections_closed_total{reason=\"write_timeout\"}";
    assert_eq!(
        sample(&server.metrics_with(&format!("{closed} 1")), closed),
        1.0
    );
}
