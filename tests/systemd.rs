//! The binary under systemd's conventions, without systemd: readiness and watchdog
//! notifications on a `NOTIFY_SOCKET` the test owns.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::binary::{Running, smol_toy};

/// The datagrams that arrive within `timeout`, each as text, until one contains `until`.
fn receive_until(socket: &UnixDatagram, until: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(deadline - Instant::now()))
            .unwrap();
        let Ok(n) = socket.recv(&mut buffer) else {
            break;
        };
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let done = message.contains(until);
        received.push(message);
        if done {
            break;
        }
    }
    received
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("smol-toy-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();

    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0"]);
    command
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000");
    let server = Running::spawn(command);

    let first = receive_until(&socket, "READY=1", Duration::from_secs(5));
    let ready = first.last().expect("a notification");
    assert!(ready.contains("READY=1\n"), "{first:?}");
    assert!(
        ready.contains("STATUS=serving on http://127.0.0.1:"),
        "{ready}"
    );
    // The watchdog is pinged every 200 ms: several within a second.
    let pings = receive_until(&socket, "never sent", Duration::from_secs(1));
    let watchdog = pings
        .iter()
        .filter(|m| m.as_str() == "WATCHDOG=1\n")
        .count();
    assert!(watchdog >= 3, "{pings:?}");

    server.signal("TERM");
    let stopping = receive_until(&socket, "STOPPING=1", Duration::from_secs(5));
    assert!(
        stopping.last().is_some_and(|m| m.contains("STOPPING=1\n")),
        "{stopping:?}"
    );
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
