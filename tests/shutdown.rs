//! Graceful shutdown: stop accepting, close idle connections, finish what is in flight.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{TestServer, test_config};
use smol_toy::Stopped;

#[test]
fn a_request_in_flight_at_shutdown_still_gets_its_200() {
    let mut config = test_config();
    config.delay = Duration::from_millis(500).into();
    let server = TestServer::start(config);
    let mut client = server.client();
    client.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    let addr = server.addr;
    let stopping = thread::spawn(move || server.stop());
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), r#"{"result":1}"#);
    assert!(response.says_close(), "the last response says it closes");
    assert!(client.is_closed());
    assert_eq!(stopping.join().unwrap(), Stopped::Drained);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after run returned"
    );
}

#[test]
fn new_connections_are_refused_once_shutdown_starts() {
    let mut config = test_config();
    config.delay = Duration::from_secs(1).into();
    let server = TestServer::start(config);
    let mut busy = server.client();
    busy.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    server.shutdown();
    thread::sleep(Duration::from_millis(100));
    // The drain is still running (the /toy above), but the listener is closed.
    assert!(TcpStream::connect(server.addr).is_err());
    assert_eq!(busy.response().status, 200);
}

#[test]
fn idle_keep_alive_connections_close_at_shutdown() {
    let mut config = test_config();
    config.keep_alive_timeout = Duration::from_secs(30).into();
    let server = TestServer::start(config);
    let mut idle = server.client();
    assert_eq!(idle.get("/healthz").status, 200);
    let started = Instant::now();
    let stopped = server.stop();
    assert_eq!(stopped, Stopped::Drained);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drain took {:?}",
        started.elapsed()
    );
    assert!(idle.is_closed());
}

#[test]
fn the_shutdown_timeout_bounds_the_drain() {
    let mut config = test_config();
    config.delay = Duration::from_secs(30).into();
    config.shutdown_timeout = Duration::from_millis(300).into();
    let server = TestServer::start(config);
    let mut stuck = server.client();
    stuck.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(server.stop(), Stopped::TimedOut { open: 1 });
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[test]
fn a_request_sent_on_a_fresh_connection_at_shutdown_is_served() {
    let server = TestServer::start(test_config());
    // Connected, but the request is not sent yet when the shutdown starts.
    let mut late = server.client();
    thread::sleep(Duration::from_millis(50));
    server.shutdown();
    thread::sleep(Duration::from_millis(50));
    let response = late.get("/toy");
    assert_eq!(response.status, 200);
    assert!(response.says_close());
}
