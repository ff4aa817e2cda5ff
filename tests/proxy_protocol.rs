//! `--proxy-protocol`, against the real binary: the client a trusted balancer names
//! in its header is the client of the access log, over plain HTTP and before a TLS
//! handshake; every other connection is closed unserved, counted by reason, and
//! what an untrusted peer claims never reaches the log.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::binary::{Running, smol_toy};
use common::certs::TestCa;
use common::client::Client;
use ppp::v2;
use smol_toy::testing::{V1_MAX_LEN, V2_MAX_PAYLOAD};

const V1: &[u8] = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 4567\r\n";
const GET_TOY: &[u8] = b"GET /toy HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";

/// A v2 PROXY header for a TCP connection from `client` to `server`.
fn v2_proxy(client: &str, server: &str) -> Vec<u8> {
    let addresses = (
        client.parse::<SocketAddr>().unwrap(),
        server.parse::<SocketAddr>().unwrap(),
    );
    let command = v2::Version::Two | v2::Command::Proxy;
    (v2::Builder::with_addresses(command, v2::Protocol::Stream, addresses).build()).unwrap()
}

/// A v2 header as raw bytes: version 2 with `command`, then `family_transport`,
/// and `payload` under a length field that says `length`.
fn v2_raw(command: u8, family_transport: u8, length: u16, payload: &[u8]) -> Vec<u8> {
    let mut header = v2::PROTOCOL_PREFIX.to_vec();
    header.extend([0x20 | command, family_transport]);
    header.extend(length.to_be_bytes());
    header.extend(payload);
    header
}

/// The v2 `LOCAL` header HAProxy's health checks send.
fn v2_local() -> Vec<u8> {
    v2_raw(0, 0, 0, &[])
}

/// The server, believing PROXY headers from 127.0.0.1, logging JSON at debug level
/// into a file of the test `name`'s.
fn start(name: &str, extra: &[&str]) -> Running {
    let args = [
        &[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--delay",
            "0",
            "--proxy-protocol",
            "--trusted-proxies",
            "127.0.0.1",
            "--log-format",
            "json",
        ],
        extra,
    ]
    .concat();
    let mut command = smol_toy(&args);
    command.env("RUST_LOG", "smol_toy=debug");
    let log = std::env::temp_dir().join(format!("smol-toy-{name}-{}.log", std::process::id()));
    Running::spawn_with_stderr(command, &log)
}

/// A connection to `to` from the local address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Stops the server; returns the access lines' (client, peer) and all of stderr.
fn stop(server: Running) -> (Vec<(String, String)>, String) {
    server.signal("TERM");
    let log = server.stderr_file.clone().unwrap();
    let (code, stderr) = server.wait(Duration::from_secs(5));
    let _ = std::fs::remove_file(log);
    assert_eq!(code, Some(0), "{stderr}");
    let access = stderr
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect(line))
        .filter(|line| line["target"] == "smol_toy::access")
        .map(|line| {
            let field = |name: &str| line[name].as_str().unwrap().to_owned();
            (field("client"), field("peer"))
        })
        .collect();
    (access, stderr)
}

/// The value of `smol_toy_proxy_protocol_rejected_total{reason="REASON"}`, read
/// over a connection that starts with a `LOCAL` header.
fn rejected(server: &Running, reason: &str) -> u64 {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&v2_local()).unwrap();
    let mut client = Client::over(stream);
    let metrics = client.get("/metrics").body_text();
    let name = format!("smol_toy_proxy_protocol_rejected_total{{reason=\"{reason}\"}} ");
    let line = metrics.lines().find(|line| line.starts_with(&name));
    line.unwrap_or_else(|| panic!("no {name} in {metrics}"))[name.len()..]
        .parse()
        .unwrap()
}

#[test]
fn the_client_a_trusted_balancer_names_is_the_client_of_the_access_log() {
    let server = start("proxied-clients", &[]);
    let headers = [
        V1.to_vec(),
        v2_proxy("[2001:db8::7]:40000", "[::1]:4567"),
        b"PROXY UNKNOWN\r\n".to_vec(),
        v2_local(),
    ];
    for header in &headers {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        // Header and request in one write, as HAProxy sends them.
        stream.write_all(&[header, GET_TOY].concat()).unwrap();
        let response = Client::over(stream).response();
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(header)
        );
    }
    let (access, _) = stop(server);
    let clients: Vec<&str> = access.iter().map(|(client, _)| client.as_str()).collect();
    // The X-Forwarded-For of a client that is not itself trusted is not believed.
    // After UNKNOWN and LOCAL the balancer is the client, and it is trusted: its
    // X-Forwarded-For is.
    assert_eq!(clients, ["192.0.2.7", "2001:db8::7", "6.6.6.6", "6.6.6.6"]);
    for (_, peer) in &access {
        assert!(
            peer.starts_with("127.0.0.1:"),
            "the peer is the balancer: {peer}"
        );
    }
}

#[test]
fn over_https_the_header_comes_before_the_handshake() {
    let ca = TestCa::new();
    let leaf = ca.leaf("localhost");
    let leaf_args = leaf.args();
    let args: Vec<&str> = leaf_args.iter().map(String::as_str).collect();
    let server = start("proxied-https", &args);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(&v2_proxy("192.0.2.8:40001", "127.0.0.1:443"))
        .unwrap();
    let tls = ca.client_config(&[b"http/1.1"]);
    let mut client = Client::tls_over(stream, &tls).expect("the handshake after the header");
    assert_eq!(client.get("/toy").status, 200);
    drop(client);
    let (access, _) = stop(server);
    assert_eq!(access.len(), 1);
    assert_eq!(access[0].0, "192.0.2.8");
}

/// What each refused connection sends, and the reason it is counted under.
fn refused_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut long_v1 = b"PROXY UNKNOWN ".to_vec();
    long_v1.resize(V1_MAX_LEN + 10, b'x');
    long_v1.extend(b"\r\n");
    let mut bad_signature = v2_proxy("192.0.2.9:1", "127.0.0.1:2");
    bad_signature[8] = b'X';
    let beyond = u16::try_from(V2_MAX_PAYLOAD + 1).unwrap();
    vec![
        ("no header", GET_TOY.to_vec(), "missing"),
        (
            "a TLS ClientHello",
            b"\x16\x03\x01\x00\x05hello".to_vec(),
            "missing",
        ),
        ("v1 over 107 bytes", long_v1, "too_long"),
        (
            "v1, unknown family",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            "malformed",
        ),
        ("v2, bad signature", bad_signature, "malformed"),
        (
            "v2, unknown family",
            v2_raw(1, 0x41, 12, &[0; 12]),
            "malformed",
        ),
        (
            "v2, length beyond the bound",
            v2_raw(1, 0x11, beyond, &[0; 12]),
            "too_long",
        ),
        (
            "v2, block short for IPv4",
            v2_raw(1, 0x11, 8, &[0; 8]),
            "malformed",
        ),
        (
            "v2, block short for IPv6",
            v2_raw(1, 0x21, 12, &[0; 12]),
            "malformed",
        ),
    ]
}

/// Whether the server closed `stream` without answering: end-of-stream or a reset,
/// and not one byte.
fn closed_unserved(mut stream: TcpStream) -> Result<(), String> {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) if answer.is_empty() => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Ok(_) => Err(format!("answered {:?}", String::from_utf8_lossy(&answer))),
        Err(error) => Err(format!("not closed: {error}")),
    }
}

#[test]
fn connections_without_a_believable_header_are_closed_unserved_and_counted() {
    let server = start("proxy-refusals", &["--header-timeout", "300ms"]);
    let mut expected = std::collections::HashMap::<&str, u64>::new();
    for (case, bytes, reason) in refused_cases() {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(&[&bytes[..], GET_TOY].concat()).unwrap();
        closed_unserved(stream).unwrap_or_else(|why| panic!("{case}: {why}"));
        *expected.entry(reason).or_default() += 1;
    }

    // From an address that is not trusted, a well-formed header claiming another.
    let mut stream = connect_from("127.0.0.3", server.addr);
    let claimed = b"PROXY TCP4 203.0.113.66 127.0.0.1 40000 4567\r\n";
    stream.write_all(&[&claimed[..], GET_TOY].concat()).unwrap();
    closed_unserved(stream).expect("untrusted");
    // A header cut short: the peer closes, or stops sending.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&V1[..20]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    closed_unserved(stream).expect("truncated");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&V1[..20]).unwrap();
    let started = Instant::now();
    closed_unserved(stream).expect("timed out");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "closed after {waited:?}");

    for (reason, count) in [("untrusted", 1), ("truncated", 1), ("timeout", 1)] {
        *expected.entry(reason).or_default() += count;
    }
    for (reason, count) in &expected {
        assert_eq!(rejected(&server, reason), *count, "{reason}");
    }
    let (access, stderr) = stop(server);
    // Only the metrics scrapes were served.
    assert_eq!(access.len(), expected.len(), "{access:?}");
    assert!(
        stderr.contains("PROXY protocol header refused (malformed)"),
        "{stderr}"
    );
    assert!(!stderr.contains("203.0.113.66"), "{stderr}");
}

#[test]
fn the_option_needs_trusted_proxies_and_the_health_check_speaks_it() {
    let output = smol_toy(&["--port", "0", "--proxy-protocol"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--proxy-protocol needs --trusted-proxies"),
        "{stderr}"
    );

    let server = start("proxy-healthcheck", &[]);
    let port = server.addr.port().to_string();
    let check = |extra: &[&str]| {
        let args = [
            &["healthcheck", "--host", "127.0.0.1", "--port", &port],
            extra,
        ]
        .concat();
        smol_toy(&args).output().unwrap()
    };
    let healthy = check(&["--proxy-protocol", "--trusted-proxies", "127.0.0.1"]);
    assert!(healthy.status.success(), "{healthy:?}");
    // Without the header, the server closes the check's connection unserved.
    assert_eq!(check(&[]).status.code(), Some(1));
    // From an address the options do not trust, the check says so.
    for (trusted, said) in [("10.0.0.0/8", "(10.0.0.0/8)"), ("", "(none)")] {
        let untrusted = check(&["--proxy-protocol", "--trusted-proxies", trusted]);
        assert_eq!(untrusted.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&untrusted.stderr);
        let expected = format!("--trusted-proxies {said}, and this check comes from 127.0.0.1");
        assert!(stderr.contains(&expected), "{stderr}");
    }
    let (access, _) = stop(server);
    assert_eq!(access, [("127.0.0.1".to_owned(), access[0].1.clone())]);
}
