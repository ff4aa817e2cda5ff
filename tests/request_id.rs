//! `X-Request-Id`: every response carries one, the client's when it is usable, a
//! fresh one otherwise, and the access log shows it.

mod common;

use std::collections::HashSet;

use common::binary::Running;
use common::client::{Client, RawResponse};
use common::{TestServer, test_config};

/// The answer to GET `path` with these extra header lines.
fn get_with(client: &mut Client, path: &str, fields: &str) -> RawResponse {
    client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes());
    client.response()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn a_usable_client_id_is_echoed() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    let long = "n".repeat(128);
    for id in [
        "abc",
        "7f3c9e2a-5b1d-4f6e-8a9b-0c1d2e3f4a5b",
        "a/b=c:d",
        long.as_str(),
    ] {
        let response = get_with(&mut client, "/healthz", &format!("X-Request-Id: {id}\r\n"));
        assert_eq!(response.header("x-request-id"), Some(id));
    }
    // Names are case-insensitive; 404s carry it too.
    let response = get_with(&mut client, "/nope", "x-REQUEST-id: mine\r\n");
    assert_eq!(response.status, 404);
    assert_eq!(response.header("x-request-id"), Some("mine"));
}

#[test]
fn an_unusable_or_missing_id_is_replaced_by_a_fresh_one() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    let too_long = format!("X-Request-Id: {}\r\n", "n".repeat(129));
    for fields in [
        "",
        "X-Request-Id: \r\n",
        "X-Request-Id: a b\r\n",
        "X-Request-Id: a\"b\r\n",
        "X-Request-Id: a'b\r\n",
        "X-Request-Id: one\r\nX-Request-Id: two\r\n",
        too_long.as_str(),
    ] {
        let response = get_with(&mut client, "/healthz", fields);
        assert_eq!(response.status, 200, "{fields:?}");
        let id = response.header("x-request-id").expect("an id");
        assert!(is_generated(id), "{fields:?} got {id:?}");
    }
}

#[test]
fn generated_ids_differ_and_every_kind_of_answer_has_one() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    let mut ids = HashSet::new();
    for _ in 0..200 {
        ids.insert(
            client
                .get("/healthz")
                .header("x-request-id")
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 200);
    for request in [
        &b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        b"HEAD /toy HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /toy HTTP/1.1\r\n\r\n",
    ] {
        let mut client = server.client();
        client.send(request);
        let response = client
            .try_response(request.starts_with(b"HEAD"))
            .unwrap()
            .unwrap();
        let id = response.header("x-request-id").expect("an id");
        assert!(is_generated(id), "{request:?}: {id:?}");
    }
}

#[test]
fn the_access_log_shows_the_id() {
    let server = Running::start(&["--delay", "0"]);
    let mut client = Client::connect(server.addr);
    let response = get_with(&mut client, "/toy", "X-Request-Id: trace-me-42\r\n");
    assert_eq!(response.header("x-request-id"), Some("trace-me-42"));
    drop(client);
    server.signal("TERM");
    let (code, stderr) = server.wait(std::time::Duration::from_secs(5));
    assert_eq!(code, Some(0));
    let line = stderr
        .lines()
        .find(|line| line.contains("smol_toy::access"))
        .expect("an access line");
    assert!(line.contains(" trace-me-42 \"-\""), "{line}");
}
