//! A reader of stderr that stops reading, or goes away, never stops the service:
//! the binary keeps answering, counts the log lines it drops, says so once the
//! reader is back, and exits on SIGTERM in time.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::ChildStderr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::binary::Running;
use common::client::Client;

/// Every access line carries this user agent, so that a few hundred requests fill
/// the pipe (64 KiB) and the log buffer (512 KiB).
fn long_user_agent() -> String {
    "x".repeat(4000)
}

/// Sends `/healthz` from `connections` keep-alive connections for `time`; returns
/// how many were answered 200.
fn load(addr: SocketAddr, connections: usize, time: Duration) -> usize {
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: test\r\nUser-Agent: {}\r\n\r\n",
        long_user_agent()
    );
    let until = Instant::now() + time;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut answered = 0;
                while Instant::now() < until {
                    client.send(request.as_bytes());
                    assert_eq!(client.response().status, 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// The server's count of dropped log lines.
fn dropped_lines(addr: SocketAddr) -> u64 {
    let metrics = Client::connect(addr).get("/metrics").body_text();
    let line = (metrics.lines())
        .find(|line| line.starts_with("smol_toy_log_lines_dropped_total "))
        .unwrap_or_else(|| panic!("no dropped-lines counter in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The binary in JSON log format, its stderr a pipe that nothing reads yet.
fn start_with_unread_stderr(args: &[&str]) -> (Running, ChildStderr) {
    let mut server = Running::start(&[&["--log-format", "json"], args].concat());
    let stderr = server.child.stderr.take().expect("stderr is a pipe");
    (server, stderr)
}

/// Serves at least 1,000 requests in 2 s from 16 connections with nobody reading
/// stderr, and shows drops; returns how many.
fn serves_past_a_stalled_reader(addr: SocketAddr) -> u64 {
    let answered = load(addr, 16, Duration::from_secs(2));
    assert!(answered >= 1_000, "{answered} requests in 2 s");
    let dropped = dropped_lines(addr);
    assert!(dropped > 0, "no dropped lines after {answered}");
    dropped
}

#[test]
fn a_reader_that_stops_reading_never_stops_serving_nor_shutdown() {
    let (server, _unread) = start_with_unread_stderr(&["--shutdown-timeout", "2s"]);
    serves_past_a_stalled_reader(server.addr);
    let signalled = Instant::now();
    server.signal("TERM");
    let (code, _) = server.wait(Duration::from_secs(3) + Duration::from_millis(500));
    assert_eq!(code, Some(0));
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
}

#[test]
fn a_reader_that_comes_back_hears_of_the_drops_then_whole_lines() {
    let (server, unread) = start_with_unread_stderr(&[]);
    let dropped = serves_past_a_stalled_reader(server.addr);
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(unread).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    // Every line arrives whole (one JSON object), the stall's warning among them,
    // then the access lines of requests sent after it.
    let whole = |line: &str| -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:.200}"))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = whole(&received.recv_timeout(left).expect("the stall's warning"));
        if line["message"]
            .as_str()
            .is_some_and(|m| m.contains("log sink was stalled"))
        {
            break line;
        }
    };
    assert_eq!(warning["level"], "WARN");
    // It counts every line dropped while the reader was away: at least as many as
    // /metrics showed then.
    let message = warning["message"].as_str().unwrap();
    let counted: u64 = (message.split_once("stalled: "))
        .and_then(|(_, rest)| rest.split_once(" line(s) dropped from "))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in {message}"));
    assert!(counted >= dropped, "{message}; /metrics said {dropped}");
    assert!(load(server.addr, 4, Duration::from_millis(500)) > 0);
    let mut access_lines = 0;
    while let Ok(line) = received.recv_timeout(Duration::from_secs(1)) {
        let record = whole(&line);
        if record["path"] == "/healthz" && record["user_agent"] == long_user_agent() {
            access_lines += 1;
        }
    }
    assert!(access_lines > 0, "no access line after the warning");
}

#[test]
fn a_reader_that_goes_away_costs_only_the_lines() {
    let (server, unread) = start_with_unread_stderr(&[]);
    drop(unread);
    let answered = load(server.addr, 16, Duration::from_millis(500));
    assert!(answered > 0);
    assert!(dropped_lines(server.addr) > 0);
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get("/healthz").status, 200);
}
