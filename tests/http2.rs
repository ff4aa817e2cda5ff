//! HTTP/2, in cleartext by prior knowledge and over TLS by ALPN, with h2's own
//! client in process: the same service as HTTP/1's, many streams on one
//! connection, the limits and timeouts in HTTP/2's terms, GOAWAY at shutdown, and
//! the conformance table's field cases.

mod cases;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use smol_toy::Stopped;

use common::client::Client;
use common::h2_client::{self, H2Connection};
use common::{TestServer, sample, test_config};
use smol_toy::testing::{InMemoryServer, MemoryStream, default_limits};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[test]
fn toy_and_healthz_over_h2c() {
    let server = TestServer::start(test_config());
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        let toy = h2.get("/toy").await.unwrap();
        assert_eq!(toy.status(), 200);
        assert_eq!(toy.json(), serde_json::json!({"result": 1}));
        assert_eq!(toy.header("content-type"), Some("application/json"));
        assert_eq!(toy.header("cache-control"), Some("no-store"));
        assert_eq!(toy.header("x-request-id").map(str::len), Some(32));
        assert!(toy.header("date").is_some());
        assert_eq!(toy.header("connection"), None);
        assert_eq!(toy.header("strict-transport-security"), None);
        let health = h2.get("/healthz").await.unwrap();
        assert_eq!(
            (health.status(), health.json()["status"].as_str()),
            (200, Some("ok"))
        );
    });
}

#[test]
fn toy_and_healthz_over_tls_with_hsts() {
    let (server, _) = TestServer::start_tls(test_config());
    let config = server.ca().client_config(&[b"h2", b"http/1.1"]);
    smol::block_on(async {
        let h2 = h2_client::connect_tls(server.addr, &config).await;
        let toy = h2.get("/toy").await.unwrap();
        assert_eq!(toy.status(), 200);
        assert_eq!(toy.json(), serde_json::json!({"result": 1}));
        assert_eq!(
            toy.header("strict-transport-security"),
            Some("max-age=31536000")
        );
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
    });
}

#[test]
fn a_hundred_toy_streams_on_one_connection_are_answered_together() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    let started = Instant::now();
    let statuses = smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        let answers = join_all((0..100).map(|_| h2.get("/toy"))).await;
        answers
            .into_iter()
            .map(|a| a.unwrap().status())
            .collect::<Vec<_>>()
    });
    let took = started.elapsed();
    assert_eq!(statuses, vec![200; 100]);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    let metrics = server.metrics();
    assert_eq!(sample(&metrics, "smol_toy_http2_connections_total"), 1.0);
    assert_eq!(sample(&metrics, "smol_toy_http2_streams_total"), 100.0);
}

#[test]
fn http_1_1_is_still_served_on_both_ports() {
    let plain = TestServer::start(test_config());
    let (tls, _) = TestServer::start_tls(test_config());
    for server in [&plain, &tls] {
        let mut client = server.client();
        assert_eq!(client.get("/healthz").status, 200);
        assert_eq!(client.get("/toy").status, 200, "kept alive");
    }
    // An HTTP/1.1 request that asks to upgrade to h2c is answered over HTTP/1.1
    // (RFC 9113 §3.1 deprecates the upgrade).
    let mut client = plain.client();
    client.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n");
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("upgrade"), None);
}

#[test]
fn streams_beyond_the_limit_wait_for_a_place() {
    let mut config = test_config();
    config.delay = Duration::from_millis(500).into();
    config.max_concurrent_streams = 2;
    let server = TestServer::start(config);
    let started = Instant::now();
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
        // The client has the server's SETTINGS by now.
        assert_eq!(h2.send.current_max_send_streams(), 2);
        let answers = join_all((0..4).map(|_| h2.get("/toy"))).await;
        assert!(answers.iter().all(|a| a.as_ref().unwrap().status() == 200));
    });
    let took = started.elapsed();
    // Two at a time: two rounds of 500 ms.
    assert!(took >= Duration::from_millis(1000), "{took:?}");
}

#[test]
fn a_header_list_over_the_limit_is_refused() {
    let mut config = test_config();
    config.max_head_size = 1024;
    let server = TestServer::start(config);
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
        let request = http::Request::get("http://localhost/healthz")
            .header("x-big", "a".repeat(2000))
            .body(())
            .unwrap();
        let refused = h2.request(request, Bytes::new()).await;
        match refused {
            Ok(response) => assert_eq!(response.status(), 431),
            Err(error) => assert_eq!(error.reason(), Some(h2::Reason::REFUSED_STREAM)),
        }
        // The connection goes on.
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
    });
}

#[test]
fn shutdown_sends_goaway_and_lets_the_streams_in_flight_finish() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    let started = Instant::now();
    let (statuses, ended) = smol::block_on(async {
        let H2Connection { send, driver } = h2_client::connect(server.addr).await;
        let h2 = H2Connection {
            send: send.clone(),
            driver: smol::spawn(async { Ok(()) }),
        };
        let answers = smol::spawn(async move { join_all((0..10).map(|_| h2.get("/toy"))).await });
        smol::Timer::after(Duration::from_millis(300)).await;
        server.shutdown();
        let answers = answers.await;
        let ended = driver.await;
        let statuses: Vec<u16> = answers.into_iter().map(|a| a.unwrap().status()).collect();
        (statuses, ended)
    });
    assert_eq!(
        statuses,
        vec![200; 10],
        "every stream in flight is answered"
    );
    assert!(ended.is_ok(), "the connection ends cleanly: {ended:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let stopped = server.stop();
    assert_eq!(stopped, Stopped::Drained);
}

#[test]
fn new_streams_after_goaway_are_refused_or_rejected() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        let in_flight = h2.get("/toy");
        let late = async {
            smol::Timer::after(Duration::from_millis(300)).await;
            server.shutdown();
            smol::Timer::after(Duration::from_millis(300)).await;
            h2.get("/healthz").await
        };
        let (in_flight, late) = smol::future::zip(in_flight, late).await;
        assert_eq!(in_flight.unwrap().status(), 200);
        // After the GOAWAY, h2's client refuses to open the stream itself, or the
        // server refuses it with REFUSED_STREAM: either way it was not served.
        let error = late.err().expect("no new stream is served after GOAWAY");
        assert!(
            error.is_go_away() || error.reason() == Some(h2::Reason::REFUSED_STREAM),
            "{error:?}"
        );
    });
}

#[test]
fn an_idle_connection_gets_goaway_at_the_keep_alive_timeout() {
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_millis(300).into();
    let server = TestServer::start(config);
    let idle_for = smol::block_on(async {
        let H2Connection { send, driver } = h2_client::connect(server.addr).await;
        let h2 = H2Connection {
            send,
            driver: smol::spawn(async { Ok(()) }),
        };
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
        let answered = Instant::now();
        let ended = driver.await;
        assert!(ended.is_ok(), "closed with GOAWAY(NO_ERROR): {ended:?}");
        answered.elapsed()
    });
    assert!(
        idle_for >= Duration::from_millis(250) && idle_for < Duration::from_millis(1500),
        "{idle_for:?}"
    );
    let metrics = server.metrics_with(r#"reason="idle_timeout"} 1"#);
    assert!(metrics.contains(r#"smol_toy_connections_closed_total{reason="idle_timeout"} 1"#));
    assert_eq!(
        sample(
            &metrics,
            r#"smol_toy_http2_goaways_sent_total{error_code="NO_ERROR"}"#
        ),
        1.0
    );
}

#[test]
fn a_silent_connection_after_the_preface_is_cut_at_the_header_timeout() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(300).into();
    let server = TestServer::start(config);
    let mut stream = raw_connection(&server);
    stream.write_all(PREFACE).unwrap();
    let (received, took) = read_until_closed(stream);
    // The server's SETTINGS came first; the connection closed without a request.
    assert_eq!(received.get(3), Some(&4), "a SETTINGS frame: {received:?}");
    assert_cut_at_300ms(&server, took, "header_timeout");
}

/// A raw TCP connection to `server`, whose reads give up after 10 s.
fn raw_connection(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and how long
/// that took. The client closes too, as the server's close asks (the server reads
/// until then).
fn read_until_closed(mut stream: TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    (received, started.elapsed())
}

/// Asserts that a connection was cut at a 300 ms timeout, and counted as closed
/// for `reason`.
fn assert_cut_at_300ms(server: &TestServer, took: Duration, reason: &str) {
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "cut after {took:?}"
    );
    let counted = format!(r#"smol_toy_connections_closed_total{{reason="{reason}"}} 1"#);
    let metrics = server.metrics_with(&format!(r#"reason="{reason}"}} 1"#));
    assert!(metrics.contains(&counted), "{metrics}");
}

/// A HEADERS block for `GET http://t{path}`: the method and scheme from HPACK's
/// static table, the path as a literal (under 128 bytes), the authority `t`.
fn get_block(path: &str) -> Vec<u8> {
    let literal = [0x04, path.len() as u8];
    [
        &[0x82, 0x86][..],
        &literal,
        path.as_bytes(),
        &[0x41, 0x01, b't'],
    ]
    .concat()
}

/// A raw HTTP/2 frame: its header, then `payload`.
fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream_id.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn a_client_that_stops_reading_is_cut_at_the_write_timeout() {
    let mut config = test_config();
    config.write_timeout = Duration::from_millis(300).into();
    // Far off: the connection has no stream open while its writes stall.
    config.keep_alive_timeout = Duration::from_secs(30).into();
    let server = TestServer::start(config);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // A small receive buffer, so that the kernel holds fewer answers.
    rustix::net::sockopt::set_socket_recv_buffer_size(&stream, 4096).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // Windows as large as HTTP/2 allows, so that only the socket holds answers back.
    let mut opening = PREFACE.to_vec();
    opening.extend(frame(4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]));
    opening.extend(frame(8, 0, 0, &0x7fff_0000u32.to_be_bytes()));
    stream.write_all(&opening).unwrap();
    // Rounds of 100 streams asking for /metrics (5 KiB), never read: about 8 MB in
    // all, more than the kernel's buffers take, so the server's writes stall.
    let block = get_block("/metrics");
    for round in 0..15 {
        let streams: Vec<u8> = (0..100)
            .flat_map(|i| frame(1, 5, 1 + 200 * round + 2 * i, &block))
            .collect();
        if stream.write_all(&streams).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // On a busy machine h2 reads on before it writes, the client runs past the
    // concurrency limit first, and the connection is ended for that instead.
    let cut = r#"smol_toy_connections_closed_total{reason="write_timeout"} 1"#;
    let flood = r#"smol_toy_http2_floods_total{kind="too_many_streams"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(3);
    let ended = |seen: &str| seen.contains(cut) || seen.contains(flood);
    let mut seen = server.metrics();
    while !ended(&seen) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen = server.metrics();
    }
    assert!(ended(&seen), "{seen}");
}

/// The header timeout covers a header block left open while another stream waits:
/// the connection notices the open block as h2 reads it, not at its next event.
#[test]
fn a_header_block_left_open_is_cut_at_the_header_timeout() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(300).into();
    config.delay = Duration::from_secs(5).into();
    let server = TestServer::start(config);
    let mut stream = raw_connection(&server);
    // Stream 1 waits in /toy for 5 s.
    let toy = get_block("/toy");
    let mut opening = client_preface();
    opening.extend(frame(1, 5, 1, &toy));
    stream.write_all(&opening).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Stream 3's HEADERS without END_HEADERS: its CONTINUATION never comes.
    stream.write_all(&frame(1, 1, 3, &toy)).unwrap();
    let (_, took) = read_until_closed(stream);
    assert_cut_at_300ms(&server, took, "header_timeout");
}

#[test]
fn the_metrics_count_each_protocol_exactly() {
    let server = TestServer::start(test_config());
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
        assert_eq!(h2.get("/nope").await.unwrap().status(), 404);
    });
    assert_eq!(server.client().get("/healthz").status, 200);
    let metrics = server.metrics();
    for (name, value) in [
        ("smol_toy_http2_connections_total", 1.0),
        ("smol_toy_http2_streams_total", 3.0),
        ("smol_toy_http2_streams_reset_total", 0.0),
        (
            r#"smol_toy_http_requests_by_protocol_total{protocol="http2"}"#,
            3.0,
        ),
        (
            r#"smol_toy_http_requests_by_protocol_total{protocol="http1"}"#,
            1.0,
        ),
        (
            r#"smol_toy_http_requests_total{method="GET",route="/healthz",status="200"}"#,
            3.0,
        ),
        (
            r#"smol_toy_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (r#"smol_toy_http2_floods_total{kind="rapid_reset"}"#, 0.0),
    ] {
        assert_eq!(sample(&metrics, name), value, "{name}");
    }
}

#[test]
fn a_stream_the_client_resets_stops_its_handler() {
    let mut config = test_config();
    config.delay = Duration::from_secs(5).into();
    let server = TestServer::start(config);
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        let mut send = h2.send.clone().ready().await.unwrap();
        let request = http::Request::get("http://localhost/toy").body(()).unwrap();
        let (_response, mut stream) = send.send_request(request, true).unwrap();
        smol::Timer::after(Duration::from_millis(200)).await;
        stream.send_reset(h2::Reason::CANCEL);
        smol::Timer::after(Duration::from_millis(200)).await;
        assert_eq!(h2.get("/healthz").await.unwrap().status(), 200);
    });
    let metrics = server.metrics();
    assert_eq!(sample(&metrics, "smol_toy_http2_streams_reset_total"), 1.0);
    // Only the scrape itself is in flight: the reset /toy no longer is.
    assert_eq!(sample(&metrics, "smol_toy_http_requests_in_flight"), 1.0);
}

#[test]
fn with_http2_off_the_preface_is_an_http_1_request() {
    let mut config = test_config();
    config.http2 = false;
    let server = TestServer::start(config);
    let mut client = server.client();
    client.send(PREFACE);
    assert_eq!(client.response().status, 505);
}

#[test]
fn an_invalid_preface_after_alpn_h2_gets_goaway_protocol_error() {
    let (server, _) = TestServer::start_tls(test_config());
    let h2_only = server.ca().client_config(&[b"h2"]);
    let mut client = Client::connect_tls(server.addr, &h2_only).unwrap();
    client.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut received = Vec::new();
    let _ = client.read_to_end(&mut received);
    // GOAWAY: 8 bytes, type 7, stream 0, last stream 0, PROTOCOL_ERROR.
    assert_eq!(
        received,
        [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );
}

/// The protocol is chosen from the first bytes in cleartext however they are cut:
/// the preface one byte at a time (with pauses a peek-and-retry loop would have to
/// wait out) is HTTP/2, an HTTP/1 request cut the same way is HTTP/1.1, and a
/// client that starts like the preface and then breaks off gets GOAWAY.
#[test]
fn the_protocol_is_chosen_however_the_first_bytes_are_cut() {
    let server = TestServer::start(test_config());
    let send_slowly = |stream: &mut TcpStream, bytes: &[u8], slow: usize| {
        for &byte in &bytes[..slow] {
            stream.write_all(&[byte]).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
        stream.write_all(&bytes[slow..]).unwrap();
    };
    let mut http2 = raw_connection(&server);
    let mut request = client_preface();
    request.extend(frame(1, 5, 1, &get_block("/healthz")));
    send_slowly(&mut http2, &request, PREFACE.len() + 2);
    http2.shutdown(std::net::Shutdown::Write).unwrap();
    let (received, _) = read_until_closed(http2);
    let frames = frames(&received);
    let status = answer_on(&frames, 1).map(|block| block[0]);
    assert_eq!(status, Some(STATUS_200), "{frames:?}");

    let mut http1 = raw_connection(&server);
    send_slowly(
        &mut http1,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        6,
    );
    let (received, _) = read_until_closed(http1);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");

    let mut broken = raw_connection(&server);
    send_slowly(&mut broken, b"PRI * HTTP/1.1\r\n\r\n", 5);
    let (received, _) = read_until_closed(broken);
    // GOAWAY: 8 bytes, type 7, stream 0, last stream 0, PROTOCOL_ERROR.
    assert_eq!(
        received,
        [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );
}

/// A frame as (type, flags, stream id, payload).
type Frame<'a> = (u8, u8, u32, &'a [u8]);

/// HPACK's static entry 8, `:status 200`, as the first byte of a header block.
const STATUS_200: u8 = 0x88;

/// The client's connection preface: the magic, then an empty SETTINGS frame.
fn client_preface() -> Vec<u8> {
    [PREFACE, &frame(4, 0, 0, &[])].concat()
}

/// The frames in `received`; a frame cut short at the end is left out.
fn frames(mut received: &[u8]) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    while received.len() >= 9 {
        let length = u32::from_be_bytes([0, received[0], received[1], received[2]]) as usize;
        let stream_id = u32::from_be_bytes(received[5..9].try_into().unwrap()) & 0x7fff_ffff;
        let Some(payload) = received.get(9..9 + length) else {
            break;
        };
        frames.push((received[3], received[4], stream_id, payload));
        received = &received[9 + length..];
    }
    frames
}

/// The header block the server sent on stream `id`, if it answered it.
fn answer_on<'a>(frames: &[Frame<'a>], id: u32) -> Option<&'a [u8]> {
    let headers = frames.iter().find(|&&(kind, _, i, _)| kind == 1 && i == id);
    headers.map(|&(.., block)| block)
}

/// Control characters cannot be sent by h2's client (`http::HeaderValue` refuses
/// them), so the conformance table's control-character cases go over HTTP/2 as raw
/// frames. In a field's value h2's HPACK decoder refuses them for the whole
/// connection: GOAWAY(PROTOCOL_ERROR), never an answer, and counted. (HTTP/1
/// answers 400 and closes.)
#[test]
fn control_characters_in_a_value_end_the_http2_connection() {
    let server = TestServer::start(test_config());
    let values = [&b"a\x00b"[..], b"a\rb", b"a\nb", b"a\x01b", b"a\x7fb"];
    for value in values {
        // A literal field without indexing, with a new name: x-a.
        let mut block = get_block("/healthz");
        block.extend([0x00, 3, b'x', b'-', b'a', value.len() as u8]);
        block.extend(value);
        let mut stream = raw_connection(&server);
        let mut request = client_preface();
        request.extend(frame(1, 5, 1, &block));
        stream.write_all(&request).unwrap();
        let (received, _) = read_until_closed(stream);
        let frames = frames(&received);
        assert!(
            answer_on(&frames, 1).is_none(),
            "{value:?} was answered: {frames:?}"
        );
        let goaway = frames.iter().find(|&&(kind, ..)| kind == 7);
        let code = goaway.map(|(.., payload)| &payload[4..8]);
        assert_eq!(code, Some(&[0, 0, 0, 1][..]), "{value:?}: {frames:?}");
    }
    // Counted as each connection's task ends, which may be after the client saw
    // the close.
    let goaways = r#"smol_toy_http2_goaways_sent_total{error_code="PROTOCOL_ERROR"}"#;
    let metrics = server.metrics_with(&format!("{goaways} {}", values.len()));
    assert_eq!(sample(&metrics, goaways), values.len() as f64);
}

/// A control character in `:path` makes a malformed request (RFC 9113 §8.1.1): h2
/// resets its stream with PROTOCOL_ERROR, unanswered, and the connection serves the
/// next stream.
#[test]
fn a_control_character_in_the_path_resets_only_its_stream() {
    let server = TestServer::start(test_config());
    let mut stream = raw_connection(&server);
    let mut request = client_preface();
    request.extend(frame(1, 5, 1, &get_block("/t\x01y")));
    request.extend(frame(1, 5, 3, &get_block("/healthz")));
    stream.write_all(&request).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    let answer = loop {
        if let Some(block) = answer_on(&frames(&received), 3) {
            break block.to_vec();
        }
        let read = stream.read(&mut buffer).unwrap();
        assert!(
            read > 0,
            "closed before stream 3 was answered: {received:?}"
        );
        received.extend(&buffer[..read]);
    };
    assert_eq!(answer.first(), Some(&STATUS_200), "{received:?}");
    let frames = frames(&received);
    assert!(
        frames.contains(&(3, 0, 1, &[0, 0, 0, 1][..])),
        "stream 1 not reset with PROTOCOL_ERROR: {frames:?}"
    );
    assert!(answer_on(&frames, 1).is_none());
}

/// What a conformance case becomes over HTTP/2, where it can be sent at all.
enum H2Outcome {
    /// Answered with this status.
    Status(u16),
    /// Reset by h2 (RFC 9113 §8.1.1: malformed, a stream error).
    Reset,
}

/// The cases whose outcome differs over HTTP/2, and why.
fn differs_over_http2(name: &str) -> Option<H2Outcome> {
    Some(match name {
        // HTTP/2 has no Content-Length in the framing sense; h2 checks it against
        // the DATA frames, and resets a stream whose value is not a number.
        "bad content-length"
        | "negative content-length"
        | "plus content-length"
        | "conflicting content-lengths"
        | "content-length list"
        | "huge content-length"
        | "utf-8 in content-length"
        | "latin-1 in content-length" => H2Outcome::Reset,
        // A Content-Length whose body never comes: over HTTP/1 the connection
        // closes after the answer; over HTTP/2 h2 resets the stream, whose
        // END_STREAM says the body is empty.
        "large body is not read" | "expect with a body" => H2Outcome::Reset,
        _ => return None,
    })
}

/// A conformance case as an HTTP/2 request: `METHOD /target HTTP/1.1` and
/// `name: value` fields that HTTP/2 can carry (no connection-specific field, no
/// control character), and its body. `None` for a case about HTTP/1's syntax.
fn as_http2(request: &[u8]) -> Option<(http::Request<()>, Bytes)> {
    let text_end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let body = Bytes::copy_from_slice(&request[text_end + 4..]);
    let mut lines = request[..text_end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = std::str::from_utf8(lines.next()?).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "HTTP/1.1" || parts.next().is_some() || !target.starts_with('/') {
        return None;
    }
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = http::HeaderName::from_bytes(&line[..colon]).ok()?;
        if [
            "connection",
            "transfer-encoding",
            "keep-alive",
            "upgrade",
            "te",
        ]
        .contains(&name.as_str())
        {
            return None;
        }
        let value = http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
        builder = builder.header(name, value);
    }
    Some((builder.body(()).ok()?, body))
}

/// Every field case of the HTTP/1 conformance table, sent over HTTP/2 with `Host`
/// as a field (no `:authority`), gets the status it gets over HTTP/1, or the
/// stream error HTTP/2 asks for where the table says so.
#[test]
fn the_conformance_tables_field_cases_get_the_same_answers_over_http2() {
    let server = TestServer::start(test_config());
    let mut sent = 0;
    let mut failures = Vec::new();
    smol::block_on(async {
        let h2 = h2_client::connect(server.addr).await;
        for case in cases::CASES {
            let Some((request, body)) = as_http2(case.request) else {
                continue;
            };
            sent += 1;
            let wanted = differs_over_http2(case.name).unwrap_or(H2Outcome::Status(case.status));
            let got = h2.request(request, body).await;
            let ok = match (&wanted, &got) {
                (H2Outcome::Status(status), Ok(response)) => response.status() == *status,
                (H2Outcome::Reset, Err(error)) => error.is_reset(),
                _ => false,
            };
            if !ok {
                let got = got.map(|r| r.status());
                failures.push(format!("{}: got {got:?}", case.name));
            }
        }
    });
    assert!(sent >= 40, "only {sent} cases could be sent over HTTP/2");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A server for in-memory connections, as the fuzzer's: `/toy` without a wait.
fn in_memory_server() -> InMemoryServer<smol_toy::Toy> {
    InMemoryServer::new(smol_toy::Toy::new(Duration::ZERO), default_limits())
}

/// One in-memory HTTP/2 connection, as the fuzzer drives it: raw frames cut into
/// small reads get whole frames back (the server's SETTINGS, then the client's
/// acknowledged, then the answer to the stream it opened before its input ended),
/// and the connection ends with the input.
#[test]
fn an_in_memory_connection_answers_raw_frames_read_in_pieces() {
    let mut input = client_preface();
    input.extend(frame(1, 5, 1, &get_block("/healthz")));
    let (stream, reason) = in_memory_server().serve_http2(MemoryStream::new(input, [7, 3, 11, 2]));
    let frames = frames(stream.output());
    let kinds: Vec<_> = frames
        .iter()
        .map(|&(kind, flags, id, _)| (kind, flags, id))
        .collect();
    assert_eq!(
        kinds[0],
        (4, 0, 0),
        "the server's SETTINGS first: {kinds:?}"
    );
    assert!(
        kinds.contains(&(4, 1, 0)),
        "the client's SETTINGS acknowledged: {kinds:?}"
    );
    let status = answer_on(&frames, 1).map(|block| block[0]);
    assert_eq!(status, Some(STATUS_200), "{kinds:?}");
    assert_eq!(reason, "client_closed");
}

/// A client that has closed its side can send neither the rest of a body nor room
/// in a window: a stream that waits for either is not waited for (the timeouts
/// here are 10 s), and the connection ends as soon as its client is done.
#[test]
fn a_half_closed_client_is_not_waited_for() {
    let server = in_memory_server();
    // END_HEADERS without END_STREAM: a body that never comes.
    let body_missing = [frame(4, 0, 0, &[]), frame(1, 4, 1, &get_block("/toy"))];
    // SETTINGS_INITIAL_WINDOW_SIZE 0: no room for the answer's body.
    let no_room = [
        frame(4, 0, 0, &[0, 4, 0, 0, 0, 0]),
        frame(1, 5, 1, &get_block("/toy")),
    ];
    for frames in [body_missing, no_room] {
        let input = [PREFACE.to_vec(), frames.concat()].concat();
        let started = Instant::now();
        let (_, reason) = server.serve_http2(MemoryStream::new(input, []));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_eq!(reason, "client_closed");
    }
}

/// A client that closes its side after its requests (a half-close) still gets
/// their answers, as over HTTP/1; then the connection ends. h2 alone would end it
/// at once, answers unsent. A request whose body can no longer come is left
/// unanswered, without waiting for the header timeout.
#[test]
fn a_client_that_half_closes_gets_its_answers() {
    let mut config = test_config();
    config.delay = Duration::from_millis(300).into();
    config.header_timeout = Duration::from_secs(5).into();
    let server = TestServer::start(config);
    let mut stream = raw_connection(&server);
    let mut request = client_preface();
    for id in [1, 3, 5] {
        request.extend(frame(1, 5, id, &get_block("/toy")));
    }
    // END_HEADERS without END_STREAM: a body is to follow.
    request.extend(frame(1, 4, 7, &get_block("/toy")));
    stream.write_all(&request).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (received, took) = read_until_closed(stream);
    let frames = frames(&received);
    for id in [1, 3, 5] {
        let status = answer_on(&frames, id).map(|block| block[0]);
        assert_eq!(status, Some(STATUS_200), "{id}: {frames:?}");
        let body = frames.iter().find(|&&(kind, _, i, _)| kind == 0 && i == id);
        assert_eq!(body.map(|(.., data)| *data), Some(&b"{\"result\":1}"[..]));
    }
    assert!(answer_on(&frames, 7).is_none());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );
    let metrics = server.metrics_with(r#"reason="client_closed"} 1"#);
    assert!(metrics.contains(r#"smol_toy_connections_closed_total{reason="client_closed"} 1"#));
}
