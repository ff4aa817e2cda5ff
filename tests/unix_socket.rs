//! `--unix-socket`: the binary serves HTTP on a Unix domain socket, logs `unix` as the
//! peer, refuses a socket another process listens on, and removes its file at exit.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use common::binary::{Running, smol_toy};

/// A fresh directory for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("smol-toy-unix-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The socket path in it.
    fn socket(&self) -> PathBuf {
        self.0.join("toy.sock")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends one request with `Connection: close` and returns the whole answer.
fn exchange(path: &Path, request: &str) -> String {
    let mut stream = UnixStream::connect(path).expect("connect to the socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn stop(mut child: Child) -> (Option<i32>, String) {
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn serves_on_a_unix_socket_and_removes_it_at_exit() {
    let scratch = Scratch::new("serves");
    let path = scratch.socket();
    let socket = path.to_str().unwrap();
    let args = [
        "--unix-socket",
        socket,
        "--unix-socket-mode",
        "600",
        "--delay",
        "0",
    ];
    let (child, line) = Running::spawn_listening(smol_toy(&args));
    assert_eq!(line, format!("listening on unix:{socket}"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let answer = exchange(
        &path,
        "GET /toy HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with(r#"{"result":1}"#), "{answer}");

    // A second server on the same socket is refused: the first one is live.
    let second = smol_toy(&args).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains(&format!("cannot listen on unix:{socket}")),
        "{message}"
    );
    assert!(
        message.contains("another process is listening"),
        "{message}"
    );

    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(r#"] unix unix "GET /toy HTTP/1.1" 200 "#),
        "{stderr}"
    );
    assert!(!path.exists(), "the socket file is still there");
}

#[test]
fn a_stale_socket_left_by_a_killed_server_is_replaced() {
    let scratch = Scratch::new("stale");
    let path = scratch.socket();
    let socket = path.to_str().unwrap();
    let args = ["--unix-socket", socket, "--delay", "0"];
    let (mut killed, _) = Running::spawn_listening(smol_toy(&args));
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(path.exists(), "SIGKILL leaves the file behind");

    let (child, line) = Running::spawn_listening(smol_toy(&args));
    assert_eq!(line, format!("listening on unix:{socket}"));
    let answer = exchange(
        &path,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("replacing the stale socket"), "{stderr}");
}
