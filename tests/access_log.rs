//! The access log, read off the real binary's stderr: JSON lines that parse and carry
//! their fields, text lines that client values cannot forge, the client's address
//! behind trusted proxies.

mod common;

use std::time::Duration;

use common::binary::Running;
use common::client::Client;

/// What the tests send: a request with awkward values, attempts to break a log line
/// (each refused with 400), and a request whose target percent-encodes CR and LF.
const REQUESTS: &[&[u8]] = &[
    b"GET /toy?q=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla \"quoted\" \\back\r\n\
      X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nX-Request-Id: log-test-1\r\n\r\n",
    b"GET /a%0D%0A[forged] HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /toy HTTP/1.1\r\nHost: t\r\nUser-Agent: a\n[forged] INFO smol_toy::access] x\r\n\r\n",
    b"GET /a\rb HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /\"quote HTTP/1.1\r\nHost: t\r\nUser-Agent: \"\r\n\r\n",
];

/// Sends each request on its own connection, then stops the server; returns its
/// stderr and the statuses.
fn run(args: &[&str]) -> (String, Vec<u16>) {
    let server = Running::start(&[&["--delay", "0"], args].concat());
    let statuses = REQUESTS
        .iter()
        .map(|request| {
            let mut client = Client::connect(server.addr);
            client.send(request);
            client.response().status
        })
        .collect();
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{stderr}");
    (stderr, statuses)
}

#[test]
fn json_lines_parse_and_carry_the_fields() {
    let (stderr, statuses) = run(&["--log-format", "json"]);
    assert_eq!(statuses, [200, 404, 400, 400, 404]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        let ts = line["ts"].as_str().expect("ts");
        // RFC 3339, UTC, milliseconds: 2026-11-26T11:19:26.526Z.
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
            "{ts}"
        );
        assert!(
            line["level"].is_string() && line["target"].is_string(),
            "{line}"
        );
    }
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["target"] == "smol_toy::access")
        .collect();
    assert_eq!(access.len(), REQUESTS.len(), "{stderr}");
    let first = access[0];
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/toy");
    assert_eq!(first["version"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["request_id"], "log-test-1");
    assert_eq!(first["user_agent"], "Mozilla \"quoted\" \\back");
    // No proxy is trusted: the client is the peer, whatever X-Forwarded-For says.
    assert_eq!(first["client"], "127.0.0.1");
    assert!(first["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    // The body's bytes, as nginx's `$body_bytes_sent`: `{"result":1}`.
    assert_eq!(first["bytes"], 12, "{first}");
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0, "{first}");
    assert_eq!(access[1]["path"], "/a%0D%0A[forged]");
    assert_eq!(access[2]["method"], "-");
    assert_eq!(access[2]["status"], 400);
    assert!(access[2]["user_agent"].is_null());
    for line in lines
        .iter()
        .filter(|line| line["target"] != "smol_toy::access")
    {
        assert!(line["message"].is_string(), "{line}");
    }
}

#[test]
fn text_lines_escape_what_the_client_sent() {
    let (stderr, statuses) = run(&["--trusted-proxies", "127.0.0.1"]);
    assert_eq!(statuses, [200, 404, 400, 400, 404]);
    // Every line is one of the logger's: nothing the client sent started a line.
    for line in stderr.lines() {
        assert!(line.starts_with("[20") && line.contains("Z "), "{line}");
    }
    let access: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" smol_toy::access] "))
        .collect();
    assert_eq!(access.len(), REQUESTS.len(), "{stderr}");
    // The client behind the trusted proxy, then the peer.
    assert!(
        access[0].contains("] 203.0.113.9 127.0.0.1:"),
        "{}",
        access[0]
    );
    assert!(
        access[0].contains(r#" "GET /toy HTTP/1.1" 200 "#),
        "{}",
        access[0]
    );
    assert!(
        access[0].ends_with(r#" log-test-1 "Mozilla \"quoted\" \\back""#),
        "{}",
        access[0]
    );
    assert!(access[2].contains(r#" "- - -" 400 "#), "{}", access[2]);
    // A path with a quote in it is percent-encoded; a lone quote in the user agent
    // is escaped: every line has its quotes in pairs.
    assert!(access[4].ends_with(r#" "\"""#), "{}", access[4]);
    for line in &access {
        let unescaped = line.replace(r"\\", "").replace(r#"\""#, "");
        assert_eq!(unescaped.matches('"').count(), 4, "{line}");
    }
}

/// A user agent with UTF-8 and Latin-1 bytes is served, and its line shows the bytes
/// as `\xHH`, in either format: never raw, so that no byte can break the line.
#[test]
fn bytes_outside_ascii_are_escaped_in_both_formats() {
    for format in ["json", "text"] {
        let server = Running::start(&["--delay", "0", "--log-format", format]);
        let mut client = Client::connect(server.addr);
        client.send(b"GET /toy HTTP/1.1\r\nHost: t\r\nUser-Agent: M\xc3\xb6zilla \xf6\r\n\r\n");
        assert_eq!(client.response().status, 200);
        server.signal("TERM");
        let (code, stderr) = server.wait(Duration::from_secs(5));
        assert_eq!(code, Some(0), "{stderr}");
        let line = (stderr.lines())
            .find(|line| line.contains("smol_toy::access"))
            .unwrap_or_else(|| panic!("no access line: {stderr}"));
        assert!(line.is_ascii(), "{line}");
        if format == "json" {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(line["user_agent"], r"M\xc3\xb6zilla \xf6");
        } else {
            assert!(line.ends_with(r#" "M\\xc3\\xb6zilla \\xf6""#), "{line}");
        }
    }
}

/// An access line's byte count is the body's, whatever the protocol, as nginx's
/// `$body_bytes_sent`: the same `/toy` logs 12 over HTTP/1.1 and HTTP/2, and its
/// HEAD 0 over both.
#[test]
fn the_bytes_are_the_bodys_on_every_protocol() {
    let server = Running::start(&["--delay", "0", "--log-format", "json"]);
    for method in ["GET", "HEAD"] {
        let mut client = Client::connect(server.addr);
        client.send(format!("{method} /toy HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let response = client.try_response(method == "HEAD").expect("read");
        assert_eq!(response.expect("answered").status, 200);
    }
    smol::block_on(async {
        let connection = common::h2_client::connect(server.addr).await;
        for method in ["GET", "HEAD"] {
            let request = http::Request::builder()
                .method(method)
                .uri("http://localhost/toy")
                .body(())
                .unwrap();
            let response = connection.request(request, bytes::Bytes::new()).await;
            assert_eq!(response.expect("answered").status(), 200);
        }
    });
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{stderr}");
    let logged: Vec<(String, String, u64)> = (stderr.lines())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "smol_toy::access")
        .map(|line| {
            let text = |name: &str| line[name].as_str().unwrap_or_default().to_owned();
            (
                text("version"),
                text("method"),
                line["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("HTTP/1.1", "GET", 12),
        ("HTTP/1.1", "HEAD", 0),
        ("HTTP/2.0", "GET", 12),
        ("HTTP/2.0", "HEAD", 0),
    ]
    .map(|(version, method, bytes)| (version.to_owned(), method.to_owned(), bytes));
    assert_eq!(logged, expected, "{stderr}");
}
