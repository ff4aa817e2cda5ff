//! `/metrics`: exact counts after known requests, bounded label sets under random
//! paths and methods, the duration histogram's buckets, HEAD.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::client::Client;
use common::{TestServer, test_config};

/// The samples of a scrape, as `name{labels} value` lines without comments.
fn scrape(server: &TestServer) -> Vec<String> {
    let response = server.client().get("/metrics");
    assert_eq!(response.status, 200);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = response.body_text();
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Scrapes, each time on a new connection, until `ready` holds of the samples (for
/// at most two seconds); returns the last samples and how many scrapes it took.
fn scrape_until(server: &TestServer, ready: impl Fn(&[String]) -> bool) -> (Vec<String>, u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for scrapes in 1.. {
        let samples = scrape(server);
        if ready(&samples) || std::time::Instant::now() > deadline {
            return (samples, scrapes);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!()
}

/// The value of the sample `series` (its name and labels, exactly as written).
fn value(samples: &[String], series: &str) -> Option<f64> {
    samples.iter().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("a number"))
    })
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        r#"smol_toy_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
    )
}

/// The label sets of `smol_toy_http_requests_total`.
fn request_series(samples: &[String]) -> BTreeSet<String> {
    samples
        .iter()
        .filter(|line| line.starts_with("smol_toy_http_requests_total{"))
        .map(|line| line.rsplit_once(' ').unwrap().0.to_owned())
        .collect()
}

#[test]
fn a_known_sequence_gives_exact_counts() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    for _ in 0..2 {
        assert_eq!(client.get("/toy").status, 200);
    }
    assert_eq!(client.get("/nope").status, 404);
    client.send(b"DELETE /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().status, 405);
    client.send(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().status, 501);
    client.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().status, 204);
    client.send(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert!(head.body_text().is_empty());
    // A refused head: no Host. It ends the connection.
    client.send(b"GET /toy HTTP/1.1\r\n\r\n");
    assert_eq!(client.response().status, 400);
    assert!(client.closes_within(Duration::from_secs(2)));
    drop(client);

    // The server's side of the connection ends once it sees the client's close.
    let (samples, scrapes) = scrape_until(&server, |samples| {
        value(samples, "smol_toy_connections_open") == Some(1.0)
    });
    let expected = [
        (requests("GET", "/toy", 200), 2.0),
        (requests("GET", "unmatched", 404), 1.0),
        (requests("DELETE", "/toy", 405), 1.0),
        (requests("other", "unmatched", 501), 1.0),
        (requests("OPTIONS", "*", 204), 1.0),
        (requests("HEAD", "/metrics", 200), 1.0),
        (requests("other", "invalid", 400), 1.0),
    ];
    for (series, count) in &expected {
        assert_eq!(
            value(&samples, series),
            Some(*count),
            "{series}: {samples:#?}"
        );
    }
    // Nothing else but the earlier scrapes: a scrape is counted once it is answered.
    let earlier_scrapes = value(&samples, &requests("GET", "/metrics", 200));
    assert_eq!(earlier_scrapes.unwrap_or(0.0), f64::from(scrapes - 1));
    let others = usize::from(scrapes > 1);
    assert_eq!(
        request_series(&samples).len(),
        expected.len() + others,
        "{samples:#?}"
    );
    // The scrape is the one request in flight; its connection the one open.
    assert_eq!(
        value(&samples, "smol_toy_http_requests_in_flight"),
        Some(1.0)
    );
    assert_eq!(value(&samples, "smol_toy_connections_open"), Some(1.0));
    let accepted = value(&samples, "smol_toy_connections_accepted_total");
    assert_eq!(accepted, Some(f64::from(1 + scrapes)));
    let closed = |reason| format!(r#"smol_toy_connections_closed_total{{reason="{reason}"}}"#);
    assert_eq!(value(&samples, &closed("error")), Some(1.0), "{samples:#?}");
    let client_closed = value(&samples, &closed("client_closed"));
    assert_eq!(client_closed, Some(f64::from(scrapes - 1)));
    assert_eq!(value(&samples, "smol_toy_accept_errors_total"), Some(0.0));
    let version = env!("CARGO_PKG_VERSION");
    let build = format!(r#"smol_toy_build_info{{version="{version}"}}"#);
    assert_eq!(value(&samples, &build), Some(1.0));
    assert!(value(&samples, "smol_toy_connection_limit").unwrap() >= 1.0);
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
    ] {
        assert!(value(&samples, process).unwrap() > 0.0, "{process}");
    }
    server.stop();
}

#[test]
fn random_paths_and_methods_add_no_series() {
    let server = TestServer::start(test_config());
    let mut client = server.client();
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    // 10,000 random paths in pipelined batches, and random method tokens.
    for _ in 0..100 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend_from_slice(
                format!("GET /{:x}/{:x} HTTP/1.1\r\nHost: t\r\n\r\n", next(), next()).as_bytes(),
            );
        }
        client.send(&batch);
        for _ in 0..100 {
            assert_eq!(client.response().status, 404);
        }
    }
    for _ in 0..200 {
        let method = format!("M{:X}", next() % 100_000);
        let path = if next() % 2 == 0 {
            "/toy".to_owned()
        } else {
            format!("/{:x}", next())
        };
        client.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let status = client.response().status;
        assert!(status == 405 || status == 501, "{status}");
    }
    let samples = scrape(&server);
    let expected: BTreeSet<String> = [
        requests("GET", "unmatched", 404),
        requests("other", "unmatched", 501),
        requests("other", "/toy", 405),
    ]
    .into();
    assert_eq!(request_series(&samples), expected);
    assert_eq!(
        value(&samples, &requests("GET", "unmatched", 404)),
        Some(10_000.0)
    );
    let scraped = samples
        .iter()
        .filter(|line| line.contains("route="))
        .count();
    // Counters, and one histogram of 33 samples per route label (unmatched, /toy).
    assert!(scraped <= 3 + 2 * 33, "{scraped}: {samples:#?}");
    server.stop();
}

#[test]
fn the_histogram_places_each_request_in_its_bucket() {
    let mut config = test_config();
    config.delay = Duration::from_millis(50).into();
    let server = TestServer::start(config);
    let mut client = Client::connect(server.addr);
    for _ in 0..3 {
        assert_eq!(client.get("/toy").status, 200);
    }
    assert_eq!(client.get("/healthz").status, 200);
    let samples = scrape(&server);
    let bucket = |route, le| {
        let series = format!(
            r#"smol_toy_http_request_duration_seconds_bucket{{le="{le}",route="{route}"}}"#
        );
        value(&samples, &series).unwrap_or_else(|| panic!("{series}: {samples:#?}"))
    };
    // /toy waits 50 ms: none at or below 0.05 s, all three within 0.25 s.
    assert_eq!(bucket("/toy", "0.05"), 0.0);
    assert_eq!(bucket("/toy", "0.25"), 3.0);
    assert_eq!(bucket("/toy", "+Inf"), 3.0);
    assert_eq!(bucket("/healthz", "0.05"), 1.0);
    let count = r#"smol_toy_http_request_duration_seconds_count{route="/toy"}"#;
    assert_eq!(value(&samples, count), Some(3.0));
    let sum = r#"smol_toy_http_request_duration_seconds_sum{route="/toy"}"#;
    let sum = value(&samples, sum).unwrap();
    assert!((0.15..0.75).contains(&sum), "{sum}");
    server.stop();
}
