//! HTTPS: the service over TLS with a Rust client (rustls), what is refused (TLS
//! 1.1, h2 only, plain HTTP), the handshake's deadline, and what is counted. The
//! certificate reload on SIGHUP is in tls_reload.rs; the conformance table, keep-alive
//! and the limits run over TLS too (`Streams::Tls`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, RootCertStore};
use smol_toy::Config;

use common::client::Client;
use common::{TestServer, test_config};

fn start(config: Config) -> TestServer {
    TestServer::start_tls(config).0
}

fn metrics(server: &TestServer) -> String {
    server.client().get("/metrics").body_text()
}

fn handshakes(metrics: &str, result: &str) -> u64 {
    let prefix = format!("smol_toy_tls_handshakes_total{{result=\"{result}\"}} ");
    let line = metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {metrics}"));
    line.parse().unwrap()
}

#[test]
fn toy_and_healthz_are_served_over_https_with_hsts() {
    let server = start(test_config());
    let mut client = server.client();
    let tls = client.tls().unwrap();
    assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        tls.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let toy = client.get("/toy");
    assert_eq!(toy.status, 200);
    assert_eq!(toy.json(), serde_json::json!({"result": 1}));
    assert_eq!(
        toy.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let healthz = client.get("/healthz");
    assert_eq!(healthz.status, 200);
    assert!(healthz.header("strict-transport-security").is_some());
}

#[test]
fn tls_1_2_is_served_too() {
    let server = start(test_config());
    let mut roots = RootCertStore::empty();
    roots.add(server.ca().cert_der.clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let mut client = Client::connect_tls(server.addr, &Arc::new(config)).unwrap();
    assert_eq!(
        client.tls().unwrap().protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(client.get("/healthz").status, 200);
}

#[test]
fn hsts_max_age_0_sends_none() {
    let mut config = test_config();
    config.hsts_max_age = 0;
    let server = start(config);
    let response = server.client().get("/healthz");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("strict-transport-security"), None);
}

#[test]
fn plain_http_gets_no_hsts() {
    let server = TestServer::start(test_config());
    let response = server.client().get("/healthz");
    assert_eq!(response.header("strict-transport-security"), None);
}

#[test]
fn sixteen_pipelined_toys_on_one_https_connection_are_answered_after_one_second() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = start(config);
    let mut client = server.client();
    let started = Instant::now();
    client.send(&b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n".repeat(16));
    for _ in 0..16 {
        let response = client.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.json(), serde_json::json!({"result": 1}));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1800),
        "{elapsed:?}"
    );
}

#[test]
fn alpn_prefers_h2_and_falls_back_to_http_1_1() {
    let server = start(test_config());
    for (offered, chosen) in [
        (&[&b"h2"[..]][..], Some(&b"h2"[..])),
        (&[b"http/1.1", b"h2"], Some(b"h2")),
        (&[b"http/1.1"], Some(b"http/1.1")),
    ] {
        let config = server.ca().client_config(offered);
        let client = Client::connect_tls(server.addr, &config).unwrap();
        assert_eq!(client.tls().unwrap().alpn_protocol(), chosen, "{offered:?}");
    }
    // No ALPN at all is HTTP/1.1.
    let config = server.ca().client_config(&[]);
    let mut client = Client::connect_tls(server.addr, &config).unwrap();
    assert_eq!(client.tls().unwrap().alpn_protocol(), None);
    assert_eq!(client.get("/healthz").status, 200);
}

#[test]
fn without_http2_a_client_offering_only_h2_gets_no_application_protocol() {
    let mut config = test_config();
    config.http2 = false;
    let server = start(config);
    let h2_only = server.ca().client_config(&[b"h2"]);
    let error = Client::connect_tls(server.addr, &h2_only)
        .err()
        .expect("an h2-only handshake fails");
    assert!(
        format!("{error:?}").contains("NoApplicationProtocol"),
        "{error:?}"
    );
    let both = server.ca().client_config(&[b"h2", b"http/1.1"]);
    let mut client = Client::connect_tls(server.addr, &both).unwrap();
    assert_eq!(
        client.tls().unwrap().alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
    assert_eq!(client.get("/healthz").status, 200);
    assert_eq!(handshakes(&metrics(&server), "failed"), 1);
}

/// A ClientHello that offers TLS 1.1 at most (no supported_versions extension):
/// two suites, the null compression, and the signature algorithm and group the
/// test certificate needs, so that the version alone is what the server refuses.
fn tls_1_1_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x09, 0xc0, 0x13]); // two ECDHE suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let extensions = [
        &[0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03][..], // ecdsa_secp256r1_sha256
        &[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17],     // secp256r1
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00],                 // uncompressed points
    ]
    .concat();
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn a_tls_1_1_client_gets_the_protocol_version_alert() {
    let server = start(test_config());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&tls_1_1_client_hello()).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    // An alert record: level fatal (2), description protocol_version (70).
    assert!(reply.len() >= 7, "{reply:?}");
    assert_eq!(reply[0], 0x15, "{reply:?}");
    assert_eq!(&reply[5..7], &[2, 70], "{reply:?}");
    assert_eq!(handshakes(&metrics(&server), "failed"), 1);
}

#[test]
fn plain_http_to_the_https_port_gets_a_400_that_says_use_https() {
    let server = start(test_config());
    let mut client = Client::connect(server.addr);
    let response = client.get("/toy");
    assert_eq!(response.status, 400);
    assert!(response.says_close());
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("https://"), "{detail}");
    assert!(client.is_closed());
    let metrics = metrics(&server);
    assert_eq!(handshakes(&metrics, "plaintext"), 1);
    let refused = metrics.lines().find(|line| {
        line.starts_with("smol_toy_http_requests_total") && line.contains("status=\"400\"")
    });
    assert!(
        refused.is_some_and(|line| line.ends_with(" 1")),
        "{metrics}"
    );
}

#[test]
fn silent_and_trickling_handshakes_are_cut_at_the_header_timeout_and_delay_no_one() {
    let mut config = test_config();
    config.header_timeout = Duration::from_millis(400).into();
    let server = start(config);
    let silent = Client::connect(server.addr);
    let mut trickling = TcpStream::connect(server.addr).unwrap();
    let hello = tls_1_1_client_hello();
    let started = Instant::now();
    // Another client's handshake and request go through meanwhile.
    assert_eq!(server.client().get("/healthz").status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
    let mut sent = 0;
    while sent < hello.len() - 1 && trickling.write_all(&hello[sent..sent + 1]).is_ok() {
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let cut = started.elapsed();
    assert!(
        cut >= Duration::from_millis(350) && cut < Duration::from_millis(1500),
        "the trickled ClientHello was cut after {cut:?}"
    );
    let mut silent = silent;
    assert!(silent.closes_within(Duration::from_secs(2)));
    let cut = "smol_toy_connections_closed_total{reason=\"header_timeout\"} 2\n";
    let metrics = server.metrics_with(cut);
    assert_eq!(handshakes(&metrics, "timeout"), 2, "{metrics}");
    assert!(metrics.contains(cut), "{metrics}");
}

#[test]
fn handshakes_are_counted_by_result() {
    let server = start(test_config());
    for _ in 0..3 {
        assert_eq!(server.client().get("/healthz").status, 200);
    }
    let metrics = metrics(&server);
    // Three, and the one that reads the metrics.
    assert_eq!(handshakes(&metrics, "ok"), 4);
    assert_eq!(handshakes(&metrics, "failed"), 0);
    assert_eq!(handshakes(&metrics, "timeout"), 0);
    assert_eq!(handshakes(&metrics, "plaintext"), 0);
}

#[test]
fn an_idle_connection_is_closed_with_close_notify() {
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_millis(300).into();
    let server = start(config);
    let mut client = server.client();
    assert_eq!(client.get("/healthz").status, 200);
    // rustls reads end-of-stream as Ok(0) only after close_notify; without it,
    // an UnexpectedEof error.
    let mut rest = Vec::new();
    let read = client.read_to_end(&mut rest);
    assert!(read.is_ok(), "{read:?}");
    assert!(rest.is_empty());
}

/// rustls' client sends its request, and here its close_notify, right behind its
/// Finished: they can arrive in the server's last handshake read.
#[test]
fn a_request_and_close_notify_right_behind_the_handshake_are_answered() {
    let server = start(test_config());
    for _ in 0..50 {
        let mut client = server.client();
        client.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n");
        client.close_sending_side();
        let response = client.try_response(false).unwrap().expect("an answer");
        assert_eq!(response.status, 400);
        assert!(response.says_close());
    }
}

#[test]
fn an_idle_connection_at_shutdown_is_closed_with_close_notify() {
    let server = start(test_config());
    let mut client = server.client();
    assert_eq!(client.get("/healthz").status, 200);
    server.shutdown();
    let mut rest = Vec::new();
    let read = client.read_to_end(&mut rest);
    assert!(read.is_ok(), "{read:?}");
    assert!(rest.is_empty());
}
