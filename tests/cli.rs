//! Black-box tests of the built binary, as a user runs it.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::binary::{BINARY, Running, cpu_time, smol_toy};
use common::certs::TestCa;
use common::client::{Client, RawResponse};

/// The answer to `GET path`, on a new connection.
fn get(addr: SocketAddr, path: &str) -> RawResponse {
    Client::connect(addr).get(path)
}

#[test]
fn help_lists_every_option_with_its_environment_variable() {
    let output = smol_toy(&["--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, env) in [
        ("--host", "SMOL_TOY_HOST"),
        ("--port", "SMOL_TOY_PORT"),
        ("--threads", "SMOL_TOY_THREADS"),
        ("--delay", "SMOL_TOY_DELAY"),
        ("--shutdown-timeout", "SMOL_TOY_SHUTDOWN_TIMEOUT"),
        ("--header-timeout", "SMOL_TOY_HEADER_TIMEOUT"),
        ("--keep-alive-timeout", "SMOL_TOY_KEEP_ALIVE_TIMEOUT"),
        ("--write-timeout", "SMOL_TOY_WRITE_TIMEOUT"),
        ("--max-head-size", "SMOL_TOY_MAX_HEAD_SIZE"),
        ("--max-connections", "SMOL_TOY_MAX_CONNECTIONS"),
        ("--backlog", "SMOL_TOY_BACKLOG"),
        ("--shutdown-delay", "SMOL_TOY_SHUTDOWN_DELAY"),
        ("--log-format", "SMOL_TOY_LOG_FORMAT"),
        ("--trusted-proxies", "SMOL_TOY_TRUSTED_PROXIES"),
        ("--tls-cert", "SMOL_TOY_TLS_CERT"),
        ("--tls-key", "SMOL_TOY_TLS_KEY"),
        ("--hsts-max-age", "SMOL_TOY_HSTS_MAX_AGE"),
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
        assert!(help.contains(env), "--help lacks {env}");
    }
    let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("a Unix socket stays plain HTTP"), "{help}");
    assert!(help.contains("[default: 4567]"));
    assert!(help.contains("[default: 1s]"));
}

#[test]
fn version_prints_the_crate_version() {
    let output = smol_toy(&["--version"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("smol-toy {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_option_values_exit_2_with_a_message() {
    for args in [
        &["--port", "70000"][..],
        &["--delay", "soon"],
        &["--log-format", "xml"],
        &["--trusted-proxies", "10.0.0.0/33"],
        &["--trusted-proxies", "proxy.example"],
        &["--threads", "0"],
        &["--host", "localhost:1"],
        &["--max-head-size", "10"],
        &["--timer-slack", "1s"],
        &["--no-such-option"],
    ] {
        let output = smol_toy(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn bad_environment_values_exit_2_too() {
    let output = smol_toy(&[])
        .env("SMOL_TOY_DELAY", "forever")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn port_0_prints_the_address_it_listens_on() {
    let server = Running::start(&["--delay", "0"]);
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr.port(), 0);
    assert_eq!(get(server.addr, "/toy").body_text(), r#"{"result":1}"#);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = smol_toy(&["--host", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let server = Running::start(&["--delay", "700ms"]);
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/toy"));
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), r#"{"result":1}"#);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(
        stderr.contains(r#""GET /toy HTTP/1.1" 200"#),
        "no access line: {stderr}"
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let server = Running::start(&["--delay", "30s"]);
    let mut waiting = Client::connect(server.addr);
    waiting.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    let (code, stderr) = server.wait(Duration::from_secs(3));
    assert_eq!(code, Some(130));
    // The log thread wrote the warning before the exit.
    assert!(stderr.contains("SIGINT: exiting at once"), "{stderr}");
}

#[test]
fn rust_log_warn_silences_the_access_lines() {
    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0", "--delay", "0"]);
    command.env("RUST_LOG", "warn");
    let server = Running::spawn(command);
    let addr = server.addr;
    assert_eq!(get(addr, "/toy").status, 200);
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("smol_toy::access"), "{stderr}");
}

#[test]
fn running_out_of_descriptors_logs_once_idles_and_recovers() {
    let script = format!(
        "ulimit -n 40 && exec {BINARY} --host 127.0.0.1 --port 0 --max-connections 1000 --delay 0"
    );
    let mut command = Command::new("sh");
    command.args(["-c", &script]).env_remove("RUST_LOG");
    let server = Running::spawn(command);
    let addr = server.addr;

    // More connections than the server has descriptors for; the rest wait in the backlog.
    let held: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id();
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(pid) - before;
    assert!(
        used < Duration::from_millis(200),
        "busy while out of descriptors: {used:?} of CPU in 1 s"
    );

    let stderr = release_and_stop(server, held);
    assert_eq!(stderr.matches("accept failed").count(), 1, "{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
}

/// Closes the held connections, checks that the server answers a new client and
/// says it accepts again, stops it, and returns its log.
fn release_and_stop(server: Running, held: Vec<TcpStream>) -> String {
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(server.addr, "/healthz").status, 200);
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("accepting connections again"), "{stderr}");
    stderr
}

#[test]
fn reaching_the_connection_limit_logs_once_and_recovers() {
    let mut command = Command::new(BINARY);
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--max-connections",
            "3",
        ])
        .env_remove("RUST_LOG");
    let server = Running::spawn(command);
    let addr = server.addr;

    // Three connections fill the server; two more wait in the backlog.
    let held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let stderr = release_and_stop(server, held);
    assert_eq!(
        stderr.matches("3 connections open, the limit").count(),
        1,
        "{stderr}"
    );
}

/// `smol-toy healthcheck ARGS`: its exit code, stdout and stderr, and how long it took.
fn healthcheck<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Option<i32>, String, String, Duration) {
    let started = std::time::Instant::now();
    let output = smol_toy(&["healthcheck"])
        .args(args)
        .output()
        .expect("run smol-toy healthcheck");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
        started.elapsed(),
    )
}

#[test]
fn healthcheck_exits_0_against_a_running_server_and_reads_the_same_options() {
    let server = Running::start(&["--delay", "0"]);
    let port = server.addr.port().to_string();
    let (code, stdout, stderr, _) = healthcheck(&["--port", &port]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "healthy: HTTP/1.1 200 OK");
    // The environment the server reads, and 0.0.0.0 reached on loopback.
    let output = smol_toy(&["healthcheck"])
        .env("SMOL_TOY_PORT", &port)
        .env("SMOL_TOY_HOST", "0.0.0.0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn healthcheck_exits_1_saying_why_when_nothing_listens_or_nothing_answers() {
    // A port nothing listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let (code, stdout, stderr, took) = healthcheck(&["--port", &port]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("cannot connect to http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A listener that never accepts: the connection is made, no answer comes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let (code, _, stderr, took) = healthcheck(&["--port", &port]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("no answer from http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("within 2s"), "{stderr}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // A Unix socket that is not there.
    let (code, _, stderr, _) = healthcheck(&["--unix-socket", "/nonexistent/smol-toy.sock"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("unix:/nonexistent/smol-toy.sock"),
        "{stderr}"
    );
}

#[test]
fn healthcheck_speaks_https_trusting_exactly_the_configured_certificate() {
    let ca = TestCa::new();
    let leaf = ca.leaf("served");
    let other = ca.leaf("other");
    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0", "--delay", "0"]);
    command.args(leaf.args());
    let server = Running::spawn(command);
    let port = vec!["--port".to_string(), server.addr.port().to_string()];
    let (code, stdout, stderr, _) = healthcheck(&[port.clone(), leaf.args()].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "healthy: HTTP/1.1 200 OK");

    // Another certificate, even from the same CA, is not the one configured.
    let args = [port.clone(), other.args()].concat();
    let (code, _, stderr, _) = healthcheck(&args);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("another certificate than --tls-cert"),
        "{stderr}"
    );

    // Plain HTTP to the HTTPS port: the server's 400 is the reason given.
    let (code, _, stderr, _) = healthcheck(&port);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("answered GET /healthz with HTTP/1.1 400"),
        "{stderr}"
    );
}
