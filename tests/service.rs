//! The service's routes as a client sees them over real TCP.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, test_config};

#[test]
fn toy_answers_result_1_after_the_delay() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    let mut client = server.client();
    let started = Instant::now();
    let response = client.get("/toy");
    let elapsed = started.elapsed();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body_text(), r#"{"result":1}"#);
    assert!(
        elapsed >= Duration::from_secs(1),
        "answered after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "answered after {elapsed:?}"
    );
}

#[test]
fn head_toy_has_the_get_headers_and_no_body() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    let get = client.get("/toy");
    client.send(b"HEAD /toy HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(head.header("content-type"), get.header("content-type"));
    // Had a body followed the HEAD response, it would be read as the next response.
    let next = client.get("/healthz");
    assert_eq!(next.status, 200);
}

#[test]
fn healthz_answers_at_once() {
    let mut config = test_config();
    config.delay = Duration::from_secs(5).into();
    let server = TestServer::start(config);
    let started = Instant::now();
    let response = server.client().get("/healthz");
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), serde_json::json!({ "status": "ok" }));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn other_methods_on_known_paths_get_405_with_allow() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        client.send(
            format!("{method} /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        );
        let response = client.response();
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            response.json(),
            serde_json::json!({ "error": "method not allowed" })
        );
    }
}

#[test]
fn options_lists_the_allowed_methods() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    for target in ["/toy", "/healthz", "*"] {
        client.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 204, "{target}");
        assert_eq!(response.header("content-length"), None, "{target}");
        assert_eq!(
            response.header("allow"),
            Some("GET, HEAD, OPTIONS"),
            "{target}"
        );
        assert!(response.body.is_empty());
    }
}

#[test]
fn unknown_paths_get_a_json_404() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    for path in ["/", "/toys", "/toy/", "/TOY", "/healthz/x"] {
        let response = client.get(path);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.json(), serde_json::json!({ "error": "not found" }));
    }
}

#[test]
fn query_strings_do_not_change_the_route() {
    let server = TestServer::start(test_config());
    let response = server.client().get("/toy?verbose=1");
    assert_eq!(response.body_text(), r#"{"result":1}"#);
}

/// With Nagle's algorithm on, or a response split over two writes, each response on
/// a keep-alive connection stalls about 40 ms for the client's delayed ACK.
#[test]
fn sequential_keep_alive_requests_do_not_stall() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    client.get("/healthz");
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(client.get("/healthz").status, 200);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(500),
        "50 requests took {elapsed:?}"
    );
}

#[test]
fn readyz_answers_ready_while_serving() {
    let server = TestServer::start(test_config());
    let response = server.client().get("/readyz");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body_text(), r#"{"status":"ready"}"#);
}

#[test]
fn no_answer_may_be_stored_by_a_cache() {
    let server = TestServer::start(test_config());
    let requests: [&[u8]; 8] = [
        b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
        b"DELETE /toy HTTP/1.1\r\nHost: t\r\n\r\n",
        b"OPTIONS /toy HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /toy HTTP/1.1\r\n\r\n",
    ];
    for request in requests {
        let mut client = server.client();
        client.send(request);
        let response = client.response();
        let cache_control = response.header("cache-control");
        assert_eq!(cache_control, Some("no-store"), "{request:?}");
    }
}
