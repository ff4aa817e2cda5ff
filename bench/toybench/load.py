"""The load: the scenarios, and wrk and h2load run and read."""

import json
import subprocess
from dataclasses import dataclass

from .servers import BENCH

WRK_REPORT = BENCH / "wrk-report.lua"


@dataclass
class Scenario:
    name: str
    path: str
    connections: int
    label: str
    tool: str = "wrk"  # or "h2load", which pipelines, or "ab", a new connection a request
    depth: int = 1
    # A fixed number of requests instead of a fixed time (h2load only).
    requests: int = 0
    # Over HTTPS, for the servers that serve it.
    tls: bool = False
    # HTTP/2 (h2load only; prior knowledge in cleartext, ALPN over TLS): `depth`
    # streams at once on each connection, instead of pipelined HTTP/1.1 requests.
    http2: bool = False

    @property
    def waiting(self):
        """How many requests are in flight at once: one per connection, or `depth`."""
        return self.connections * self.depth

    def run(self, server, seconds):
        """Loads `server` for `seconds`; returns the load tool's figures."""
        if self.tool == "h2load":
            return run_h2load(server.url(self.path), self.connections, self.depth, seconds,
                              self.requests, self.http2)
        if self.tool == "ab":
            return run_ab(server.url(self.path), self.connections, seconds)
        return run_wrk(server.url(self.path), self.connections, seconds)


SCENARIOS = [
    Scenario("toy-100", "/toy", 100, "/toy, 100 connections"),
    Scenario("toy-1000", "/toy", 1000, "/toy, 1,000 connections"),
    Scenario("toy-10000", "/toy", 10000, "/toy, 10,000 connections"),
    Scenario("immediate-64", "/healthz", 64, "/healthz, 64 connections"),
    Scenario("pipelined-16", "/healthz", 16, "/healthz, 16 connections pipelining 16 deep",
             tool="h2load", depth=16),
    # 16 pipelined /toy on each of 20 connections: smol-toy runs a connection's
    # pipelined handlers together, its peers one after another.
    Scenario("toy-pipelined", "/toy", 20,
             "/toy, 20 connections pipelining 16 deep (320 requests)",
             tool="h2load", depth=16, requests=320),
    # HTTPS (smol-toy-tls and axum-tls).
    Scenario("toy-1000-tls", "/toy", 1000, "HTTPS /toy, 1,000 connections", tls=True),
    Scenario("toy-10000-tls", "/toy", 10000, "HTTPS /toy, 10,000 connections", tls=True),
    Scenario("immediate-64-tls", "/healthz", 64, "HTTPS /healthz, 64 connections", tls=True),
    # ab without -k: a full handshake for every request.
    Scenario("handshakes-tls", "/healthz", 32,
             "HTTPS /healthz, a new connection per request (32 at once)", tool="ab", tls=True),
    # HTTP/2: 10,000 /toy streams waiting at once on 100 connections (what a waiting
    # stream costs), and /healthz at 64 connections x 10 streams; in cleartext (h2c,
    # prior knowledge) and over TLS.
    Scenario("h2-toy-streams", "/toy", 100,
             "HTTP/2 /toy, 100 connections x 100 streams (10,000 requests)",
             tool="h2load", depth=100, requests=10000, http2=True),
    Scenario("h2-immediate-64x10", "/healthz", 64, "HTTP/2 /healthz, 64 connections x 10 streams",
             tool="h2load", depth=10, http2=True),
    Scenario("h2-toy-streams-tls", "/toy", 100,
             "HTTP/2 over TLS /toy, 100 connections x 100 streams (10,000 requests)",
             tool="h2load", depth=100, requests=10000, http2=True, tls=True),
    Scenario("h2-immediate-64x10-tls", "/healthz", 64,
             "HTTP/2 over TLS /healthz, 64 connections x 10 streams",
             tool="h2load", depth=10, http2=True, tls=True),
]


def run_wrk(url, connections, seconds):
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(WRK_REPORT), url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    for line in output.stdout.splitlines():
        if line.startswith("JSON "):
            report = json.loads(line[5:])
            return {
                "requests": report["requests"],
                "rps": report["requests"] / (report["duration_us"] / 1e6),
                "p50_ms": report["p50_us"] / 1000,
                "p99_ms": report["p99_us"] / 1000,
                "max_ms": report["max_us"] / 1000,
                "errors": sum(report["errors"].values()),
                "error_kinds": {k: v for k, v in report["errors"].items() if v},
            }
    raise RuntimeError(f"wrk printed no report: {output.stdout}\n{output.stderr}")


def run_ab(url, connections, seconds):
    """ab for `seconds`, one request per connection (no -k), each a full handshake."""
    command = ["ab", "-q", "-r", "-t", str(seconds), "-n", "10000000", "-c", str(connections),
               url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    result = {"error_kinds": {}}
    for line in output.stdout.splitlines():
        words = line.split()
        if line.startswith("Complete requests:"):
            result["requests"] = int(words[2])
        elif line.startswith("Failed requests:"):
            result["errors"] = int(words[2])
        elif line.startswith("Non-2xx responses:"):
            result["errors"] = result.get("errors", 0) + int(words[2])
        elif line.startswith("Requests per second:"):
            result["rps"] = float(words[3])
        elif line.strip().startswith("50%"):
            result["p50_ms"] = float(words[1])
        elif line.strip().startswith("99%"):
            result["p99_ms"] = float(words[1])
        elif line.strip().startswith("100%"):
            result["max_ms"] = float(words[1])
    if "rps" not in result or "requests" not in result:
        raise RuntimeError(f"ab printed no report: {output.stdout}\n{output.stderr}")
    if result.get("errors"):
        result["error_kinds"] = {"failed": result["errors"]}
    result.setdefault("errors", 0)
    return result


def parse_h2load_time(text):
    """h2load's `123.45us`, `1.2ms` or `1.5s`, in milliseconds."""
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    for unit in ("us", "ms", "s"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(text)


def run_h2load(url, connections, depth, seconds, requests=0, http2=False):
    """h2load for `seconds`, or until `requests` are answered if it is not 0; HTTP/1.1
    pipelined `depth` deep, or HTTP/2 with `depth` streams per connection."""
    length = ["-n", str(requests)] if requests else ["-D", str(seconds)]
    protocol = [] if http2 else ["--h1"]
    command = ["h2load", *protocol, *length, "-c", str(connections), "-m", str(depth),
               "-t", "1", "--connection-inactivity-timeout=5", url]
    # A fixed count answered one request at a time takes requests / connections
    # rounds of 1 s.
    seconds = max(seconds, requests // connections * 2)
    try:
        output = subprocess.run(command, capture_output=True, text=True,
                                timeout=seconds + 60).stdout
    except subprocess.TimeoutExpired:
        return {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"hung": 1}}
    result = {}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("finished in"):
            # finished in 1.01s, 317.59 req/s, 59.86KB/s
            result["elapsed_s"] = parse_h2load_time(words[2].rstrip(",")) / 1000
            result["rps"] = float(words[3])
        elif line.startswith("requests:"):
            # requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout
            result["requests"] = int(words[7])
            result["errors"] = int(words[9]) + int(words[11]) + int(words[13])
        elif line.startswith("status codes:"):
            result["errors"] += max(0, result["requests"] - int(words[2]))
        elif line.startswith("time for request:"):
            result["max_ms"] = parse_h2load_time(words[4])
        elif line.startswith("Application protocol:"):
            result["protocol"] = words[2]
    if "rps" not in result or "requests" not in result:
        # Seen with Flask's development server, which closes pipelined connections.
        return {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"no h2load summary": 1}}
    if http2 and result.get("protocol") not in ("h2", "h2c"):
        # A server that fell back to HTTP/1.1 is not measured as an HTTP/2 one.
        raise RuntimeError(f"h2load spoke {result.get('protocol')}, not HTTP/2")
    return result
