"""The servers under test: how each starts, and a started one's process."""

import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import procfs

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
# The certificate and key of the HTTPS servers, made by bench/run.sh.
CERTS = BENCH / ".certs"


@dataclass
class Server:
    """One implementation of the service."""

    name: str
    port: int
    argv: list
    env: dict = field(default_factory=dict)
    # The executable whose stripped size the report gives (None for Python, and for
    # variants of the smol-toy binary).
    executable: Optional[Path] = None
    # Measured in every round, alternating with the other such servers; the others
    # (the Flask servers) run one round at the end.
    in_rounds: bool = False
    # One process, so its peak RSS is its VmHWM; otherwise RSS is sampled over the
    # process tree while the load runs.
    one_process: bool = False
    # Where its stderr goes: a pipe read only if it fails to start, or (for a server
    # that logs every request) a file, as a log collector would take it.
    stderr_to_file: bool = False
    # Serves HTTPS (with the certificate in CERTS), and only the HTTPS scenarios.
    tls: bool = False

    def url(self, path):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"


def servers(venv):
    python = str(venv / "bin" / "python")
    flask_env = {"TOY_DELAY": "1", "PYTHONUNBUFFERED": "1"}
    smol_toy = ROOT / "target/release/smol-toy"
    axum = BENCH / "peers/axum-toy/target/release/axum-toy"
    cert, key = str(CERTS / "cert.pem"), str(CERTS / "key.pem")
    return {
        "smol-toy": Server(
            "smol-toy", 4601, [str(smol_toy), "--host", "127.0.0.1", "--port", "4601"],
            env={"RUST_LOG": "warn"}, executable=smol_toy, in_rounds=True, one_process=True),
        # The same binary with its access log on, in text lines to a file: what the
        # access log costs (bench/run.sh --servers smol-toy,smol-toy-access-log).
        "smol-toy-access-log": Server(
            "smol-toy-access-log", 4605,
            [str(smol_toy), "--host", "127.0.0.1", "--port", "4605"],
            env={"RUST_LOG": "info"}, in_rounds=True, one_process=True, stderr_to_file=True),
        # Another build of smol-toy, for a before/after comparison in one run:
        # SMOL_TOY_BASELINE=/path/to/old/smol-toy bench/run.sh --servers smol-toy,smol-toy-baseline,axum
        "smol-toy-baseline": Server(
            "smol-toy-baseline", 4606,
            [os.environ.get("SMOL_TOY_BASELINE", "SMOL_TOY_BASELINE-is-not-set"),
             "--host", "127.0.0.1", "--port", "4606"],
            env={"RUST_LOG": "warn"}, in_rounds=True, one_process=True),
        "axum": Server(
            "axum", 4602, [str(axum), "4602", "1000"],
            executable=axum, in_rounds=True, one_process=True),
        # HTTPS: smol-toy with rustls, and axum-server with rustls (both on ring).
        "smol-toy-tls": Server(
            "smol-toy-tls", 4607,
            [str(smol_toy), "--host", "127.0.0.1", "--port", "4607",
             "--tls-cert", cert, "--tls-key", key],
            env={"RUST_LOG": "warn"}, in_rounds=True, one_process=True, tls=True),
        "axum-tls": Server(
            "axum-tls", 4608, [str(axum), "4608", "1000", cert, key],
            in_rounds=True, one_process=True, tls=True),
        "flask-dev": Server(
            "flask-dev", 4603, [python, str(BENCH / "flask/app.py"), "4603"], env=flask_env),
        "gunicorn": Server(
            "gunicorn", 4604,
            [str(venv / "bin/gunicorn"), "-k", "gthread", "-w", "2", "--threads", "100",
             "--backlog", "4096", "-b", "127.0.0.1:4604", "--chdir", str(BENCH / "flask"),
             "--log-level", "warning", "app:app"],
            env=flask_env),
    }


class Running:
    """A started server, with its start-up time and its RSS sampled as it runs."""

    def __init__(self, server):
        self.server = server
        if port_in_use(server.port):
            raise RuntimeError(f"port {server.port} is in use: is an earlier run still going?")
        started = time.perf_counter()
        stderr = subprocess.PIPE
        if server.stderr_to_file:
            stderr = tempfile.TemporaryFile(prefix=f"{server.name}-stderr-")
        self.process = subprocess.Popen(
            server.argv,
            env={**os.environ, **server.env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        self.startup_ms = 1000 * (
            wait_for_first_response(server.port, self.process, server.tls) - started)
        time.sleep(0.3)  # Let start-up work (e.g. gunicorn's workers) settle.
        self.idle_rss_kib = procfs.rss_kib(self.process.pid)
        self.peak_rss_kib = self.idle_rss_kib

    def sample(self):
        self.peak_rss_kib = max(self.peak_rss_kib, procfs.rss_kib(self.process.pid))

    def peak_rss(self):
        """The highest RSS seen, or the kernel's high-water mark for one process."""
        if self.server.one_process:
            return max(self.peak_rss_kib, procfs.status_kib(self.process.pid, "VmHWM"))
        return self.peak_rss_kib

    def cpu_seconds(self):
        return procfs.cpu_ns(self.process.pid) / 1e9

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def port_in_use(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# The start-up probe of an HTTPS server trusts its certificate without checking it.
TLS_PROBE = ssl.create_default_context()
TLS_PROBE.check_hostname = False
TLS_PROBE.verify_mode = ssl.CERT_NONE


def wait_for_first_response(port, process, tls=False, timeout=20.0):
    """Polls GET /healthz until a 200 arrives; returns the time it did."""
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start: {process.stderr.read().decode() if process.stderr else 'see its log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                if tls:
                    conn = TLS_PROBE.wrap_socket(conn, server_hostname="localhost")
                conn.sendall(request)
                if b" 200 " in conn.recv(64).split(b"\r\n", 1)[0]:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"no response on port {port} within {timeout} s")
