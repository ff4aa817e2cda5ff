//! The shutdown as a load balancer sees it, on the real binary: `/readyz` fails at
//! the signal, the server keeps accepting and serving through `--shutdown-delay` with
//! `Connection: close` on every response, then stops accepting and drains.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::binary::Running;
use common::client::{Client, RawResponse};

fn get(addr: SocketAddr, path: &str) -> RawResponse {
    Client::connect(addr).get(path)
}

#[test]
fn readiness_fails_at_the_signal_and_serving_goes_on_for_the_delay() {
    let mut server = Running::start(&["--delay", "3s", "--shutdown-delay", "1s"]);
    let addr = server.addr;
    let ready = get(addr, "/readyz");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body_text(), r#"{"status":"ready"}"#);
    assert!(!ready.says_close());

    // A request in flight across the whole delay.
    let in_flight = std::thread::spawn(move || get(addr, "/toy"));
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(100));

    // During the delay: new connections are accepted and served, readiness fails,
    // and every answer says close.
    let readyz = get(addr, "/readyz");
    assert_eq!(readyz.status, 503);
    assert_eq!(readyz.body_text(), r#"{"status":"draining"}"#);
    assert!(readyz.says_close());
    let health = get(addr, "/healthz");
    assert_eq!(health.status, 200);
    assert!(health.says_close());
    assert!(
        signalled.elapsed() < Duration::from_millis(900),
        "too slow to check"
    );

    // After it: no new connection, while the request in flight is still waiting.
    std::thread::sleep(Duration::from_millis(1400).saturating_sub(signalled.elapsed()));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited too early"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after the delay"
    );

    let answered = in_flight.join().unwrap();
    assert_eq!(answered.status, 200);
    assert_eq!(answered.body_text(), r#"{"result":1}"#);
    assert!(answered.says_close());
    let (code, stderr) = server.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("still accepting for 1s"), "{stderr}");
    assert!(stderr.contains("shutdown delay over"), "{stderr}");
}
