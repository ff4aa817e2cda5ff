"""HTTP/3 against its peers, in one run: smol-toy, the tokio peer (quinn and h3 on
tokio, bench/peers/h3-tokio-toy) and Caddy (Debian's caddy 2.6, `respond`, for the
immediate answers only), each started fresh for each measurement, the servers
alternated, on 127.0.0.1 with a certificate made for the run. The load is oha's
HTTP/3 (`oha --http-version 3`, 1.16, built with its http3 feature).

    python3 bench/h3bench.py [--seconds 5] [--rounds 1] [--servers smol-toy,tokio,caddy]

Measures, for each server:
  healthz-64     /healthz from 64 connections: requests per second, server CPU per request
  healthz-8x8    /healthz from 8 connections, 8 streams each
  toy-cpu        10,000 /toy (1 s wait) on 10 connections, 100 streams at once on each:
                 server CPU per stream
  toy-memory     1,000 /toy waiting (20 s) on 10 connections: the server's RSS while they
                 wait, less its RSS before, per stream
  idle           500 QUIC connections with no stream (aioquic): RSS per connection
Prints a Markdown table, and the ratios smol-toy / tokio peer.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "reliability"))
import h3attack  # noqa: E402

SMOL_TOY = os.path.join(ROOT, "target/release/smol-toy")
PEER = os.path.join(ROOT, "bench/peers/h3-tokio-toy/target/release/h3-tokio-toy")


def free_port():
    while True:
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()


def certificate(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


def start(server, port, delay_ms, cert, key, directory):
    if server == "smol-toy":
        command = [SMOL_TOY, "--host", "127.0.0.1", "--port", str(port), "--tls-cert", cert,
                   "--tls-key", key, "--delay", f"{delay_ms}ms", "--keep-alive-timeout", "60s"]
        env = dict(os.environ, RUST_LOG="warn")
    elif server == "tokio":
        command = [PEER, str(port), str(delay_ms), cert, key]
        env = os.environ
    else:
        caddyfile = os.path.join(directory, "Caddyfile")
        with open(caddyfile, "w") as f:
            f.write("{\n  admin off\n  auto_https disable_redirects\n  log {\n    level ERROR\n  }\n}\n"
                    f"https://localhost:{port}, https://127.0.0.1:{port} {{\n"
                    f"  tls {cert} {key}\n"
                    "  respond /healthz `{\"status\":\"ok\"}` 200\n}\n")
        command = ["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"]
        env = dict(os.environ, HOME=directory, XDG_DATA_HOME=directory, XDG_CONFIG_HOME=directory)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0 if server == "caddy" else 0.4)
    return process


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_s(pid):
    """The CPU time of all the process's threads, from the scheduler's nanosecond
    counters (the clock ticks of /proc/PID/stat are 10 ms)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[0])
        except FileNotFoundError:
            pass
    return total / 1e9


def rss_kib(pid):
    return h3attack.rss_kib(pid)


def oha(port, path, *options):
    result = subprocess.run(
        ["oha", "--http-version", "3", "--insecure", "--no-tui", "--output-format", "json",
         *options, f"https://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=120)
    j = json.loads(result.stdout)
    return j["summary"]["requestsPerSec"], j.get("statusCodeDistribution", {})


def measure(server, scenario, seconds, cert, key, directory):
    port = free_port()
    delay = {"toy-cpu": 1000, "toy-memory": 20000}.get(scenario, 1000)
    process = start(server, port, delay, cert, key, directory)
    pid = process.pid
    try:
        if scenario.startswith("healthz"):
            options = ["-c", "64"] if scenario == "healthz-64" else ["-c", "8", "-p", "8"]
            oha(port, "/healthz", "-c", "4", "-n", "200")  # warm up
            before = cpu_s(pid)
            rate, codes = oha(port, "/healthz", *options, "-z", f"{seconds}s")
            cpu = cpu_s(pid) - before
            answered = codes.get("200", 0)
            return {"req/s": round(rate), "cpu us/req": round(cpu * 1e6 / max(answered, 1), 1)}
        if scenario == "toy-cpu":
            before = cpu_s(pid)
            started = time.monotonic()
            _, codes = oha(port, "/toy", "-c", "10", "-p", "100", "-n", "10000")
            elapsed = time.monotonic() - started
            cpu = cpu_s(pid) - before
            return {"cpu us/stream": round(cpu * 1e6 / 10000, 1), "took s": round(elapsed, 2),
                    "200s": codes.get("200", 0)}
        if scenario == "toy-memory":
            before = rss_kib(pid)
            load = subprocess.Popen(
                ["oha", "--http-version", "3", "--insecure", "--no-tui", "-c", "10", "-p", "100",
                 "-n", "1000", f"https://127.0.0.1:{port}/toy"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(6)
            waiting = rss_kib(pid)
            load.kill()
            load.wait()
            return {"KiB/stream": round((waiting - before) / 1000, 2), "RSS MiB": round(waiting / 1024, 1)}
        if scenario == "idle":
            report = asyncio.run(h3attack.idle(port, 500, 1, pid))
            return {"KiB/connection": report["kib_per_connection"], "opened": report["sent"]}
    finally:
        stop(process)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--servers", default="smol-toy,tokio")
    parser.add_argument("--scenarios", default="healthz-64,healthz-8x8,toy-cpu,toy-memory,idle")
    args = parser.parse_args()
    servers = args.servers.split(",")
    directory = tempfile.mkdtemp(prefix="smol-toy-h3bench-")
    cert, key = certificate(directory)
    results = {}
    for scenario in args.scenarios.split(","):
        for _ in range(args.rounds):
            for server in servers:
                if server == "caddy" and not scenario.startswith("healthz"):
                    continue
                figures = measure(server, scenario, args.seconds, cert, key, directory)
                results.setdefault((scenario, server), []).append(figures)
                print(f"{scenario:12} {server:9} {figures}", flush=True)
    print("\n| scenario | server | figures (median of rounds) |\n| --- | --- | --- |")
    for (scenario, server), rounds in results.items():
        keys = rounds[0].keys()
        median = {k: sorted(r[k] for r in rounds)[len(rounds) // 2] for k in keys}
        print(f"| {scenario} | {server} | " + ", ".join(f"{k} {v}" for k, v in median.items()) + " |")


if __name__ == "__main__":
    main()
