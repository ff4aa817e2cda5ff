#!/usr/bin/env python3
"""Runs smol-toy and its peers through the same load, alternately, and writes
bench/results/latest.md, latest.json and latest.svg.

Called by bench/run.sh, which builds the servers and installs the tools first.
Every server is started afresh for every measurement, listens on 127.0.0.1, and is
stopped with SIGTERM afterwards; every load run is bounded by wrk's -d or h2load's -n.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"


# -- The servers -------------------------------------------------------------------


class Server:
    """One implementation of the service: how to start it and where it listens."""

    def __init__(self, name, port, argv, binary=None, env=None):
        self.name = name
        self.port = port
        self.argv = argv
        self.binary = binary
        self.env = env or {}

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def servers(venv):
    python = str(venv / "bin" / "python")
    flask_env = {"TOY_DELAY": "1", "PYTHONUNBUFFERED": "1"}
    return {
        "smol-toy": Server(
            "smol-toy",
            4601,
            [str(ROOT / "target/release/smol-toy"), "--host", "127.0.0.1", "--port", "4601"],
            binary=ROOT / "target/release/smol-toy",
            env={"RUST_LOG": "warn"},
        ),
        "axum": Server(
            "axum",
            4602,
            [str(BENCH / "peers/axum-toy/target/release/axum-toy"), "4602", "1000"],
            binary=BENCH / "peers/axum-toy/target/release/axum-toy",
        ),
        "flask-dev": Server(
            "flask-dev",
            4603,
            [python, str(BENCH / "flask/app.py"), "4603"],
            env=flask_env,
        ),
        "gunicorn": Server(
            "gunicorn",
            4604,
            [str(venv / "bin/gunicorn"), "-k", "gthread", "-w", "2", "--threads", "100",
             "--backlog", "4096", "-b", "127.0.0.1:4604", "--chdir", str(BENCH / "flask"),
             "--log-level", "warning", "app:app"],
            env=flask_env,
        ),
    }


# -- Process accounting from /proc ---------------------------------------------------


def process_tree(pid):
    """The pid and all its descendants."""
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            tasks = Path(f"/proc/{parent}/task").iterdir()
            for task in tasks:
                children = (task / "children").read_text().split()
                tree.extend(int(c) for c in children)
                frontier.extend(int(c) for c in children)
        except OSError:
            pass
    return tree


def status_kib(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """CPU time of the process tree, from the scheduler's nanosecond counters
    (/proc/*/stat counts in 10 ms ticks, too coarse for 100 requests a second)."""
    total = 0
    for member in process_tree(pid):
        try:
            for task in Path(f"/proc/{member}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def rss_kib(pid):
    return sum(status_kib(member, "VmRSS") for member in process_tree(pid))


class Running:
    """A started server, with its start-up time and its RSS sampled as it runs."""

    def __init__(self, server):
        self.server = server
        if port_in_use(server.port):
            raise RuntimeError(f"port {server.port} is in use: is an earlier run still going?")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            server.argv,
            env={**os.environ, **server.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.startup_ms = 1000 * (wait_for_first_response(server.port, self.process) - started)
        time.sleep(0.3)  # Let start-up work (e.g. gunicorn's workers) settle.
        self.idle_rss_kib = rss_kib(self.process.pid)
        self.peak_rss_kib = self.idle_rss_kib

    def sample(self):
        self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(self.process.pid))

    def cpu(self):
        return cpu_seconds(self.process.pid)

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


def wait_for_first_response(port, process, timeout=20.0):
    """Polls GET /healthz until a 200 arrives; returns the time it did."""
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start: {process.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(request)
                if b" 200 " in conn.recv(64).split(b"\r\n", 1)[0]:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"no response on port {port} within {timeout} s")


# -- The load ------------------------------------------------------------------------

WRK_REPORT = BENCH / "wrk-report.lua"


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


def parse_h2load_time(text):
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    for unit in ("us", "ms", "s"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(text)


def run_h2load(url, connections, depth, seconds):
    command = ["h2load", "--h1", "-D", str(seconds), "-c", str(connections), "-m", str(depth),
               "-t", "1", "--connection-inactivity-timeout=5", url]
    try:
        output = subprocess.run(command, capture_output=True, text=True,
                                timeout=seconds + 60).stdout
    except subprocess.TimeoutExpired:
        return {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"hung": 1}}
    result = {}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("finished in"):
            result["rps"] = float(words[3])
        elif line.startswith("requests:"):
            # requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout
            result["requests"] = int(words[7])
            result["errors"] = int(words[9]) + int(words[11]) + int(words[13])
        elif line.startswith("status codes:"):
            result["errors"] += max(0, result["requests"] - int(words[2]))
        elif line.startswith("time for request:"):
            result["max_ms"] = parse_h2load_time(words[4])
    if "rps" not in result or "requests" not in result:
        # Seen with Flask's development server, which closes pipelined connections.
        return {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"no h2load summary": 1}}
    return result


class Scenario:
    def __init__(self, name, path, connections, kind="wrk", depth=1, label=""):
        self.name = name
        self.path = path
        self.connections = connections
        self.kind = kind
        self.depth = depth
        self.label = label

    def load(self, server, seconds):
        if self.kind == "h2load":
            return run_h2load(server.url(self.path), self.connections, self.depth, seconds)
        return run_wrk(server.url(self.path), self.connections, seconds)


SCENARIOS = [
    Scenario("toy-100", "/toy", 100, label="/toy, 100 connections"),
    Scenario("toy-1000", "/toy", 1000, label="/toy, 1,000 connections"),
    Scenario("toy-10000", "/toy", 10000, label="/toy, 10,000 connections"),
    Scenario("immediate-64", "/healthz", 64, label="/healthz, 64 connections"),
    Scenario("pipelined-16", "/healthz", 16, kind="h2load", depth=16,
             label="/healthz, 16 connections pipelining 16 deep"),
]


def measure(server, scenario, args):
    """One fresh server, one load run; the figures of both."""
    running = Running(server)
    try:
        cpu_before = running.cpu()
        load = in_thread(lambda: scenario.load(server, args.seconds))
        # Sample the server's RSS while the load runs (wrk and h2load stop by themselves).
        while load.is_alive():
            running.sample()
            load.join(0.2)
        result = load.result()
        running.sample()
        cpu = running.cpu() - cpu_before
        if server.binary is not None:
            running.peak_rss_kib = max(running.peak_rss_kib,
                                       status_kib(running.process.pid, "VmHWM"))
        result.update(
            startup_ms=running.startup_ms,
            idle_rss_kib=running.idle_rss_kib,
            peak_rss_kib=running.peak_rss_kib,
            cpu_s=cpu,
            cpu_ms_per_request=1000 * cpu / result["requests"] if result["requests"] else None,
        )
        return result
    finally:
        running.stop()


def in_thread(function):
    """Runs `function` on a thread; `result()` returns its value or raises its error."""

    class Worker(threading.Thread):
        def run(self):
            try:
                self.value, self.error = function(), None
            except Exception as error:  # Reported by result().
                self.value, self.error = None, error

        def result(self):
            if self.error is not None:
                raise self.error
            return self.value

    worker = Worker(daemon=True)
    worker.start()
    return worker


# -- The report ----------------------------------------------------------------------

# The figures whose smol-toy/axum ratio is reported: req/s is better above 1, the
# others below.
RATIO_FIGURES = [
    ("rps", "req/s"),
    ("p50_ms", "p50"),
    ("p99_ms", "p99"),
    ("peak_rss_kib", "peak RSS"),
    ("cpu_ms_per_request", "CPU/request"),
]


def median_run(runs):
    """The figures of a server in a scenario: the median of each over the rounds."""
    keys = {k for run in runs for k, v in run.items() if isinstance(v, (int, float))}
    merged = {}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
        merged[key] = statistics.median(values)
    merged["rounds"] = len(runs)
    kinds = {}
    for run in runs:
        for kind, count in run.get("error_kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + count
    merged["error_kinds"] = kinds
    return merged


def fmt_cpu(value):
    return "–" if value is None else f"{value:.4f} ms"


def fmt_ms(value):
    if value is None:
        return "–"
    return f"{value / 1000:.3f} s" if value >= 1000 else f"{value:.2f} ms"


def write_report(results, meta):
    lines = [
        "# smol-toy benchmark",
        "",
        f"{meta['date']}, {meta['machine']}. Command: `{meta['command']}`.",
        f"Each figure is the median over {meta['rounds']} round(s) for smol-toy and axum "
        "(run alternately, a fresh server for every run) and one round for the Flask servers; "
        f"wrk runs {meta['seconds']} s per measurement with 2 threads on the same machine.",
        "",
        "| scenario | server | req/s | p50 | p99 | max | errors | peak RSS | CPU/request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in SCENARIOS:
        for name, by_scenario in results.items():
            figures = by_scenario.get(scenario.name)
            if figures is None:
                continue
            p50 = figures.get("p50_ms")
            p99 = figures.get("p99_ms")
            lines.append(
                f"| {scenario.label} | {name} | {figures['rps']:,.0f} | {fmt_ms(p50)} | "
                f"{fmt_ms(p99)} | {fmt_ms(figures.get('max_ms'))} | "
                f"{figures['errors']:,.0f} | {figures['peak_rss_kib'] / 1024:.1f} MiB | "
                f"{fmt_cpu(figures.get('cpu_ms_per_request'))} |"
            )
    lines += ["", "## smol-toy / axum", "",
              "Ratios of the medians (req/s: above 1 is better; the others: below 1 is better).",
              "", "| scenario | " + " | ".join(label for _, label in RATIO_FIGURES) + " |",
              "| --- |" + " ---: |" * len(RATIO_FIGURES)]
    ratios = {}
    for scenario in SCENARIOS:
        ours = results.get("smol-toy", {}).get(scenario.name)
        theirs = results.get("axum", {}).get(scenario.name)
        if not ours or not theirs:
            continue
        row = {}
        for key, _ in RATIO_FIGURES:
            if ours.get(key) is not None and theirs.get(key):
                row[key] = ours[key] / theirs[key]
        ratios[scenario.name] = row
        cells = [f"{row[key]:.2f}×" if key in row else "–" for key, _ in RATIO_FIGURES]
        lines.append(f"| {scenario.label} | " + " | ".join(cells) + " |")

    lines += ["", "## Start-up and footprint", "",
              "| server | start to first response | idle RSS | binary (stripped) |",
              "| --- | ---: | ---: | ---: |"]
    for name, footprint in meta["footprint"].items():
        size = footprint.get("binary_bytes")
        lines.append(
            f"| {name} | {footprint['startup_ms']:.1f} ms | "
            f"{footprint['idle_rss_kib'] / 1024:.1f} MiB | "
            + (f"{size:,} bytes" if size else "– (Python)") + " |"
        )
    errors = [(name, s, f["error_kinds"]) for name, by in results.items()
              for s, f in by.items() if f.get("error_kinds")]
    if errors:
        lines += ["", "Error kinds (summed over rounds): "
                  + "; ".join(f"{n} {s}: {k}" for n, s, k in errors) + "."]
    lines += ["", "![latency and throughput against concurrency](latest.svg)", ""]
    (RESULTS / "latest.md").write_text("\n".join(lines))
    (RESULTS / "latest.json").write_text(
        json.dumps({"meta": meta, "results": results, "ratios": ratios}, indent=1))


def write_plot(results):
    """latest.svg: req/s and p50/p99 against concurrency for /toy, one line per server."""
    lines = {}
    for name, by_scenario in results.items():
        points = [(s.connections, by_scenario[s.name]) for s in SCENARIOS
                  if s.path == "/toy" and s.name in by_scenario
                  and by_scenario[s.name].get("requests")]
        if points:
            lines[name] = points
    if not lines:
        print("no /toy results to plot")
        return
    data = RESULTS / "plot.dat"
    with data.open("w") as out:
        for name, points in lines.items():
            out.write(f'"{name}"\n')
            for connections, figures in points:
                out.write(f"{connections} {figures['rps']:.1f} "
                          f"{figures['p50_ms'] / 1000:.4f} {figures['p99_ms'] / 1000:.4f}\n")
            out.write("\n\n")
    blocks = len(lines)
    script = f"""
set terminal svg size 1100,420 dynamic font 'sans,12' background '#ffffff'
set output '{RESULTS / "latest.svg"}'
set multiplot layout 1,2 title 'GET /toy (waits 1 s): throughput and latency against concurrency'
set logscale xy
set xrange [50:20000]
set grid
set key top left opaque box
set xlabel 'concurrent connections'
set ylabel 'requests per second'
plot for [i=0:{blocks - 1}] '{data}' index i using 1:2 with linespoints lw 2 lc i+1 pt 7 title columnheader(1)
set ylabel 'latency (s)'
set yrange [0.9:10]
set key top left opaque box
plot for [i=0:{blocks - 1}] '{data}' index i using 1:4 with linespoints lw 2 lc i+1 pt 7 title sprintf('%s p99', columnheader(1)), \\
     for [i=0:{blocks - 1}] '{data}' index i using 1:3 with linespoints lw 1 lc i+1 dt 2 pt 6 title sprintf('%s p50', columnheader(1))
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    data.unlink()


# -- Main ----------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of smol-toy and axum, run alternately")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--servers", default="smol-toy,axum,flask-dev,gunicorn")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--venv", type=Path, default=BENCH / ".venv")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if smol-toy answered any request with an error")
    parser.add_argument("--command", default="bench/run.sh")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw latest.svg from latest.json")
    args = parser.parse_args()
    if args.replot:
        write_plot(json.loads((RESULTS / "latest.json").read_text())["results"])
        return 0

    available = servers(args.venv)
    chosen = [available[name] for name in args.servers.split(",")]
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    RESULTS.mkdir(exist_ok=True)
    runs = {server.name: {} for server in chosen}
    rust = [s for s in chosen if s.binary is not None]
    python = [s for s in chosen if s.binary is None]

    def record(server, scenario):
        print(f"  {server.name:9} {scenario.name:13}", end=" ", flush=True)
        try:
            figures = measure(server, scenario, args)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            # One failed measurement is a result, not the end of the run.
            print(f"failed: {error}", flush=True)
            runs[server.name].setdefault(scenario.name, []).append(
                {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"failed": 1},
                 "peak_rss_kib": 0, "cpu_ms_per_request": None})
            return
        runs[server.name].setdefault(scenario.name, []).append(figures)
        print(f"{figures['rps']:>10,.0f} req/s  errors {figures['errors']:<6} "
              f"p99 {fmt_ms(figures.get('p99_ms'))}  peak {figures['peak_rss_kib'] / 1024:.1f} MiB  "
              f"cpu/req {fmt_cpu(figures.get('cpu_ms_per_request'))}", flush=True)

    for round_index in range(args.rounds):
        print(f"round {round_index + 1} of {args.rounds}", flush=True)
        for scenario in scenarios:
            # Alternate which server goes first, so that neither always runs warm.
            order = rust if round_index % 2 == 0 else list(reversed(rust))
            for server in order:
                record(server, scenario)
    if python:
        print("the Flask servers, one round", flush=True)
        for scenario in scenarios:
            for server in python:
                record(server, scenario)

    # Start-up time and idle RSS: the median over every fresh server of the runs.
    footprint = {}
    for server in chosen:
        started = [f for by in runs[server.name].values() for f in by if "startup_ms" in f]
        if started:
            footprint[server.name] = {
                "startup_ms": statistics.median(f["startup_ms"] for f in started),
                "idle_rss_kib": statistics.median(f["idle_rss_kib"] for f in started),
                "binary_bytes": server.binary.stat().st_size if server.binary else None,
            }

    results = {name: {s: median_run(r) for s, r in by.items()} for name, by in runs.items()}
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {os.uname().release}",
        "command": args.command,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "footprint": footprint,
    }
    write_report(results, meta)
    write_plot(results)
    print(f"wrote {RESULTS / 'latest.md'} and {RESULTS / 'latest.svg'}")
    failed = {s: f["errors"] for s, f in results.get("smol-toy", {}).items() if f["errors"]}
    if args.check and failed:
        print(f"smol-toy answered with errors: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
