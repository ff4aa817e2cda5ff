//! Socket activation, with `tests/hold-socket.py` in systemd's place: it holds a
//! listening socket and starts the real binary on it (descriptor 3, `LISTEN_FDS=1`,
//! `LISTEN_PID`), and stops it with SIGTERM, as `systemctl restart` does.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::binary::BINARY;
use common::client::Client;

/// `tests/hold-socket.py`, running the binary with `args`; its output and the
/// servers' go to a log file.
struct Holder {
    child: Child,
    commands: ChildStdin,
    replies: BufReader<ChildStdout>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Holder {
    fn start(name: &str, args: &[&str], rust_log: &str) -> Holder {
        let log = std::env::temp_dir().join(format!("smol-toy-{name}-{}.log", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hold-socket.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(BINARY)
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 runs tests/hold-socket.py");
        let commands = child.stdin.take().unwrap();
        let mut replies = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .expect(&line)
            .parse()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Holder {
            child,
            commands,
            replies,
            addr,
            log,
        }
    }

    /// Sends a command and returns the reply.
    fn command(&mut self, command: &str) -> String {
        writeln!(self.commands, "{command}").unwrap();
        let mut line = String::new();
        self.replies.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn a_passed_socket_is_served_and_its_backlog_outlives_the_server() {
    let mut holder = Holder::start("activation", &["--delay", "0", "--port", "1"], "info");
    assert!(holder.command("start").starts_with("started "));
    // --port 1 would fail to bind: the passed socket is served instead.
    let mut client = Client::connect(holder.addr);
    assert_eq!(client.get("/healthz").status, 200);
    drop(client);
    assert_eq!(holder.command("stop"), "exited 0", "{}", holder.log());

    // Between two servers a client connects and asks; the socket is still open, so
    // the request waits in its backlog and the next server answers it.
    let mut waiting = Client::connect(holder.addr);
    waiting.send(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    assert!(holder.command("start").starts_with("started "));
    let response = waiting.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), r#"{"result":1}"#);
    drop(waiting);
    assert_eq!(holder.command("stop"), "exited 0");
    let log = holder.log();
    assert!(
        log.contains("socket activation: serving 1 socket(s) passed by systemd"),
        "{log}"
    );
    assert!(
        log.contains(&format!("listening on http://{}", holder.addr)),
        "{log}"
    );
}

/// Asks for `/toy` over keep-alive connections until `stop` is set, opening a new
/// connection whenever a response says close; counts answers and failures.
fn drive(addr: SocketAddr, stop: &AtomicBool, answered: &AtomicU64, failed: &AtomicU64) {
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        let connection = client.get_or_insert_with(|| Client::connect(addr));
        let sent = connection
            .stream()
            .write_all(b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n");
        match sent.and_then(|()| connection.try_response(false)) {
            Ok(Some(response)) if response.status == 200 => {
                answered.fetch_add(1, Ordering::Relaxed);
                if response.says_close() {
                    client = None;
                }
            }
            _ => {
                failed.fetch_add(1, Ordering::Relaxed);
                client = None;
            }
        }
    }
}

#[test]
fn restarts_on_a_held_socket_drop_nothing() {
    let args = ["--delay", "100ms", "--shutdown-delay", "300ms"];
    let mut holder = Holder::start("restart", &args, "warn");
    assert!(holder.command("start").starts_with("started "));
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
            let addr = holder.addr;
            std::thread::spawn(move || drive(addr, &stop, &answered, &failed))
        })
        .collect();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        // As `systemctl restart`: SIGTERM, wait for the exit, start a new one.
        assert_eq!(holder.command("stop"), "exited 0", "{}", holder.log());
        assert!(holder.command("start").starts_with("started "));
    }
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let (answered, failed) = (
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    // `cargo test --test socket_activation -- --nocapture` shows the figure.
    println!("two restarts under load: {answered} requests answered, {failed} failed");
    assert_eq!(failed, 0, "{answered} answered; {}", holder.log());
    assert!(answered > 200, "{answered} answered");
    assert_eq!(holder.command("stop"), "exited 0");
}
