//! Black-box tests of the built binary, as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_smol-toy");

fn smol_toy(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args).env_remove("RUST_LOG");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SMOL_TOY_")) {
        command.env_remove(name);
    }
    command
}

/// A running server; killed if a test fails before it exits.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    /// Starts the binary on a free port and reads the address it prints.
    fn start(args: &[&str]) -> Running {
        Running::spawn(smol_toy(
            &[&["--host", "127.0.0.1", "--port", "0"], args].concat(),
        ))
    }

    /// Runs `command`, which starts the binary, and reads the address it prints.
    fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start smol-toy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .parse()
            .expect("an address");
        Running { child, addr }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code and its stderr.
    fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return (status.code(), stderr);
            }
            assert!(
                started.elapsed() < timeout,
                "still running after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
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
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
        assert!(help.contains(env), "--help lacks {env}");
    }
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
        &["--threads", "0"],
        &["--host", "localhost:1"],
        &["--max-head-size", "10"],
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
    assert!(get(server.addr, "/toy").ends_with(r#"{"result":1}"#));
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
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"result":1}"#), "{response}");
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
    let addr = server.addr;
    std::thread::spawn(move || get(addr, "/toy"));
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    let (code, _) = server.wait(Duration::from_secs(3));
    assert_eq!(code, Some(130));
}

#[test]
fn rust_log_warn_silences_the_access_lines() {
    let mut command = smol_toy(&["--host", "127.0.0.1", "--port", "0", "--delay", "0"]);
    command.env("RUST_LOG", "warn");
    let server = Running::spawn(command);
    let addr = server.addr;
    assert!(get(addr, "/toy").contains("200 OK"));
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("smol_toy::access"), "{stderr}");
}

/// CPU time (user + system, in clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
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
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 20,
        "busy while out of descriptors: {used} ticks in 1 s"
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
    assert!(get(server.addr, "/healthz").contains("200 OK"));
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
