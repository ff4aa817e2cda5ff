//! The built binary, started as a user starts it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_smol-toy");

pub fn smol_toy(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args).env_remove("RUST_LOG");
    // What systemd would pass: a test sets these itself, or the binary runs without.
    for name in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ] {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SMOL_TOY_")) {
        command.env_remove(name);
    }
    command
}

/// A running server; killed if a test fails before it exits.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Where stderr goes, when not to a pipe.
    pub stderr_file: Option<PathBuf>,
}

impl Running {
    /// Starts the binary on a free port and reads the address it prints.
    pub fn start(args: &[&str]) -> Running {
        Running::spawn(smol_toy(
            &[&["--host", "127.0.0.1", "--port", "0"], args].concat(),
        ))
    }

    /// Runs `command`, which starts the binary, and reads the address it prints.
    pub fn spawn(command: Command) -> Running {
        Running::spawn_to(command, Stdio::piped(), None)
    }

    /// Runs `command`, with its stderr going to the file `stderr`, which a test
    /// can read while the server runs.
    pub fn spawn_with_stderr(command: Command, stderr: &Path) -> Running {
        let file = std::fs::File::create(stderr).expect("create the stderr file");
        Running::spawn_to(command, file.into(), Some(stderr.to_owned()))
    }

    fn spawn_to(command: Command, stderr: Stdio, stderr_file: Option<PathBuf>) -> Running {
        let (child, line) = Running::spawn_printing(command, stderr);
        let addr = (line.strip_prefix("listening on http://"))
            .or_else(|| line.strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .parse()
            .expect("an address");
        Running {
            child,
            addr,
            stderr_file,
        }
    }

    /// Runs `command` and returns the process with the first line it printed, such
    /// as `listening on unix:PATH`.
    pub fn spawn_listening(command: Command) -> (Child, String) {
        Running::spawn_printing(command, Stdio::piped())
    }

    fn spawn_printing(mut command: Command, stderr: Stdio) -> (Child, String) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start smol-toy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the first line");
        (child, line.trim().to_owned())
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code and its stderr.
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                match (self.child.stderr.take(), &self.stderr_file) {
                    (Some(mut pipe), _) => {
                        pipe.read_to_string(&mut stderr).unwrap();
                    }
                    (None, Some(file)) => stderr = std::fs::read_to_string(file).unwrap(),
                    (None, None) => {}
                }
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

/// CPU time (user and system) that all threads of process `pid` have used so far,
/// from the scheduler's nanosecond counters (`/proc/PID/task/*/schedstat`), the way
/// `bench/procfs.py` measures it.
pub fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process runs");
    let nanoseconds: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanoseconds)
}
