//! HTTP/3 over QUIC, in process, with h3's own client over quinn on smol: every
//! route as over the other protocols, many streams at once, the Alt-Svc that
//! names it, the access log's and the metrics' protocol, shutdown's GOAWAY.

mod common;

use std::time::{Duration, Instant};

use common::h3_client::{self, H3Connection};
use common::{TestServer, test_config};
use smol_toy::Config;

fn start(config: Config) -> TestServer {
    TestServer::start_http3(config).0
}

async fn connect(server: &TestServer) -> H3Connection {
    h3_client::connect(server.addr, server.ca()).await
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
                let mut send = connection.send.clone();
                answers.push(smol::spawn(async move {
                    let request = http::Request::get("https://localhost/toy")
                        .body(())
                        .unwrap();
                    let mut stream = send.send_request(request).await.unwrap();
                    stream.finish().await.unwrap();
                    stream.recv_response().await.unwrap().status().as_u16()
                }));
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
        let mut send = h3.send.clone();
        let waiting = smol::spawn(async move {
            let request = http::Request::get("https://localhost/toy")
                .body(())
                .unwrap();
            let mut stream = send.send_request(request).await.unwrap();
            stream.finish().await.unwrap();
            stream.recv_response().await.unwrap().status().as_u16()
        });
        // The stream is taken up before the shutdown.
        smol::Timer::after(Duration::from_millis(100)).await;
        server.shutdown();
        assert_eq!(waiting.await, 200, "the stream in flight is answered");
        let ended = (&mut h3.driver).await;
        assert!(ended.is_h3_no_error(), "closed with H3_NO_ERROR: {ended:?}");
    });
    server.stop();
}
