//! Several requests on one connection: pipelining, HTTP/1.0 keep-alive, request
//! bodies the server does not read, 100-continue, and smuggling attempts.

mod common;

use std::time::{Duration, Instant};

use common::{over_each_stream, test_config};

over_each_stream! {
    /// Sends `depth` requests in one write, alternating three paths, and checks that
    /// every response comes back in order.
    fn pipeline(depth: usize) {
        let server = start(test_config());
        let mut client = server.client();
        let paths = ["/toy", "/healthz", "/missing"];
        let mut batch = Vec::new();
        for i in 0..depth {
            batch.extend_from_slice(
                format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", paths[i % 3]).as_bytes(),
            );
        }
        client.send(&batch);
        for i in 0..depth {
            let response = client.response();
            let expected = match paths[i % 3] {
                "/toy" => (200, r#"{"result":1}"#),
                "/healthz" => (200, r#"{"status":"ok"}"#),
                _ => (404, r#"{"error":"not found"}"#),
            };
            assert_eq!(
                (response.status, response.body_text().as_str()),
                expected,
                "response {i}"
            );
        }
        // Nothing more than one response per request.
        assert!(!client.closes_within(Duration::from_millis(100)));
    }

    #[test]
    fn pipelined_depth_1() {
        pipeline(1);
    }

    #[test]
    fn pipelined_depth_2() {
        pipeline(2);
    }

    #[test]
    fn pipelined_depth_16() {
        pipeline(16);
    }

    #[test]
    fn pipelined_requests_split_at_every_byte_are_all_answered() {
        let server = start(test_config());
        let mut client = server.client();
        let two = b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
        for byte in two.iter() {
            client.send(&[*byte]);
        }
        assert_eq!(client.response().body_text(), r#"{"result":1}"#);
        assert_eq!(client.response().body_text(), r#"{"status":"ok"}"#);
    }

    #[test]
    fn an_answer_is_not_held_back_while_the_next_pipelined_request_waits() {
        let mut config = test_config();
        config.delay = Duration::from_secs(2).into();
        let server = start(config);
        let mut client = server.client();
        let started = Instant::now();
        client.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(client.response().body_text(), r#"{"status":"ok"}"#);
        let first = started.elapsed();
        assert!(first < Duration::from_secs(1), "/healthz took {first:?}");
        assert_eq!(client.response().body_text(), r#"{"result":1}"#);
    }

    /// Sends `count` pipelined `/toy` requests, each with its own `X-Request-Id`, in one
    /// write; returns how long all the answers took, having checked that they came in
    /// order.
    fn pipelined_toys(count: usize, delay: Duration) -> Duration {
        let mut config = test_config();
        config.delay = delay.into();
        let server = start(config);
        let mut client = server.client();
        let mut batch = String::new();
        for i in 0..count {
            batch.push_str(&format!(
                "GET /toy HTTP/1.1\r\nHost: t\r\nX-Request-Id: toy-{i}\r\n\r\n"
            ));
        }
        let started = Instant::now();
        client.send(batch.as_bytes());
        for i in 0..count {
            let response = client.response();
            assert_eq!(response.status, 200, "response {i}");
            assert_eq!(
                response.header("x-request-id"),
                Some(format!("toy-{i}").as_str())
            );
        }
        started.elapsed()
    }

    #[test]
    fn pipelined_handlers_wait_together() {
        // One after another, 16 would take 8 s.
        let took = pipelined_toys(16, Duration::from_millis(500));
        assert!(
            took < Duration::from_millis(1500),
            "16 pipelined /toy took {took:?}"
        );
    }

    #[test]
    fn sixteen_pipelined_toys_are_answered_after_one_second() {
        let took = pipelined_toys(16, Duration::from_secs(1));
        assert!(took >= Duration::from_secs(1), "took {took:?}");
        assert!(took < Duration::from_millis(1800), "took {took:?}");
    }

    #[test]
    fn the_requests_read_ahead_are_bounded() {
        // 40 requests, at most 16 at a time: three rounds of the delay, not one.
        let took = pipelined_toys(40, Duration::from_millis(300));
        assert!(
            took >= Duration::from_millis(900),
            "40 pipelined /toy took {took:?}"
        );
        assert!(
            took < Duration::from_millis(2000),
            "40 pipelined /toy took {took:?}"
        );
    }

    #[test]
    fn a_bad_request_behind_waiting_ones_is_answered_after_them() {
        let mut config = test_config();
        config.delay = Duration::from_millis(300).into();
        let server = start(config);
        let mut client = server.client();
        client.send(
            b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /toy HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        assert_eq!(client.response().body_text(), r#"{"result":1}"#);
        assert_eq!(client.response().body_text(), r#"{"status":"ok"}"#);
        let refused = client.response();
        assert_eq!(refused.status, 400, "no Host");
        assert!(refused.says_close());
        // The request after the bad one is never answered.
        assert!(client.is_closed());
    }

    #[test]
    fn a_body_behind_a_waiting_request_is_skipped_not_served() {
        let mut config = test_config();
        config.delay = Duration::from_millis(200).into();
        let server = start(config);
        let mut client = server.client();
        // The body looks like a request; it must be skipped, not served, even though
        // the request before it is still waiting when it arrives.
        let body = b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n";
        let mut bytes = b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
        bytes.extend_from_slice(
            format!(
                "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        client.send(&bytes);
        let statuses: Vec<u16> = (0..3).map(|_| client.response().status).collect();
        assert_eq!(statuses, [200, 405, 200]);
        assert!(!client.closes_within(Duration::from_millis(100)));
    }

    #[test]
    fn at_shutdown_the_requests_read_are_answered_and_the_last_closes() {
        let mut config = test_config();
        config.delay = Duration::from_millis(500).into();
        let server = start(config);
        let mut client = server.client();
        client.send(&b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3));
        std::thread::sleep(Duration::from_millis(100));
        server.shutdown();
        let answers: Vec<_> = (0..3).map(|_| client.response()).collect();
        assert!(answers.iter().all(|answer| answer.status == 200));
        assert!(!answers[0].says_close() && !answers[1].says_close());
        assert!(answers[2].says_close());
        assert!(client.is_closed());
    }

    #[test]
    fn http_1_0_closes_after_the_response() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(b"GET /toy HTTP/1.0\r\n\r\n");
        let response = client.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.body_text(), r#"{"result":1}"#);
        assert!(response.says_close());
        assert!(client.is_closed());
    }

    #[test]
    fn http_1_0_keep_alive_keeps_the_connection() {
        let server = start(test_config());
        let mut client = server.client();
        for _ in 0..3 {
            client.send(b"GET /toy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let response = client.response();
            assert_eq!(response.status, 200);
            assert_eq!(response.header("connection"), Some("keep-alive"));
        }
        client.send(b"GET /healthz HTTP/1.0\r\nHost: t\r\n\r\n");
        assert!(client.response().says_close());
        assert!(client.is_closed());
    }

    #[test]
    fn a_small_unread_body_is_skipped_and_the_next_request_served() {
        let server = start(test_config());
        let mut client = server.client();
        // The body looks like a request; it must be skipped, not served.
        let body = b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n";
        let mut bytes = format!(
            "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        client.send(&bytes);
        assert_eq!(client.response().status, 405);
        assert_eq!(client.response().body_text(), r#"{"status":"ok"}"#);
        assert!(!client.closes_within(Duration::from_millis(100)));
    }

    #[test]
    fn a_body_arriving_later_is_skipped_too() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(b"PUT /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
        assert_eq!(client.response().status, 405);
        std::thread::sleep(Duration::from_millis(50));
        client.send(b"world");
        assert_eq!(client.get("/healthz").status, 200);
    }

    #[test]
    fn a_request_hidden_in_a_chunked_body_is_never_served() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(
            b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              1e\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\r\n0\r\n\r\n\
              GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let response = client.response();
        assert_eq!(response.status, 405);
        assert!(response.says_close());
        assert!(client.is_closed(), "a second response followed");
    }

    #[test]
    fn a_request_hidden_behind_an_invalid_chunk_is_never_served() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(
            b"POST /toy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              zz\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        assert_eq!(client.response().status, 405);
        assert!(client.is_closed(), "a second response followed");
    }

    #[test]
    fn content_length_with_transfer_encoding_is_refused_not_guessed() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(
            b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        assert_eq!(client.response().status, 400);
        assert!(client.is_closed(), "a second response followed");
    }

    #[test]
    fn expect_100_continue_gets_the_final_status_without_a_100() {
        let server = start(test_config());
        let mut client = server.client();
        let started = Instant::now();
        client.send(
            b"POST /toy HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
        );
        // try_response asserts a status line; a "100 Continue" would fail the status check.
        let response = client.response();
        assert_eq!(response.status, 405);
        assert!(response.says_close());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(client.is_closed());
    }

    #[test]
    fn expect_100_continue_on_a_get_is_served_and_kept_open() {
        let server = start(test_config());
        let mut client = server.client();
        client.send(b"GET /toy HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
        let response = client.response();
        assert_eq!(response.status, 200);
        assert!(!response.says_close());
        assert_eq!(client.get("/healthz").status, 200);
    }
}
