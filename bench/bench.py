#!/usr/bin/env python3
"""Runs smol-toy and its peers through the same load, alternately, and writes
bench/results/latest.md, latest.json and latest.svg.

Called by bench/run.sh, which builds the servers and installs the tools first.
Every server is started afresh for every measurement, listens on 127.0.0.1, and is
stopped with SIGTERM afterwards; every load run is bounded by wrk's -d or h2load's -D.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toybench.load import SCENARIOS
from toybench.report import RESULTS, fmt_cpu, fmt_ms, median_run, write_plot, write_report
from toybench.servers import BENCH, Running, servers


def measure(server, scenario, seconds):
    """One fresh server, one load run; the figures of both."""
    running = Running(server)
    try:
        cpu_before = running.cpu_seconds()
        with ThreadPoolExecutor(max_workers=1) as pool:
            load = pool.submit(scenario.run, server, seconds)
            # Sample the server's RSS while the load runs (the tools stop by themselves).
            while not load.done():
                running.sample()
                time.sleep(0.2)
            result = load.result()
        running.sample()
        cpu = running.cpu_seconds() - cpu_before
        peak_rss_kib = running.peak_rss()
        result.update(
            startup_ms=running.startup_ms,
            idle_rss_kib=running.idle_rss_kib,
            peak_rss_kib=peak_rss_kib,
            rss_above_idle_kib=peak_rss_kib - running.idle_rss_kib,
            cpu_s=cpu,
            cpu_ms_per_request=1000 * cpu / result["requests"] if result["requests"] else None,
        )
        return result
    finally:
        running.stop()


def failed_measurement():
    """The figures recorded for a measurement that could not be made."""
    return {"rps": 0.0, "requests": 0, "errors": 1, "error_kinds": {"failed": 1},
            "peak_rss_kib": 0, "cpu_ms_per_request": None}


def footprints(chosen, runs):
    """Start-up time and idle RSS: the median over every fresh server of the runs."""
    footprint = {}
    for server in chosen:
        started = [f for by in runs[server.name].values() for f in by if "startup_ms" in f]
        if started:
            footprint[server.name] = {
                "startup_ms": statistics.median(f["startup_ms"] for f in started),
                "idle_rss_kib": statistics.median(f["idle_rss_kib"] for f in started),
                "binary_bytes": server.executable.stat().st_size if server.executable else None,
            }
    return footprint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of smol-toy and axum, run alternately")
    parser.add_argument("--seconds", type=int, default=10, help="load duration per run")
    parser.add_argument("--servers",
                        default="smol-toy,axum,smol-toy-tls,axum-tls,flask-dev,gunicorn")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--venv", type=Path, default=BENCH / ".venv")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if smol-toy answered any request with an error")
    parser.add_argument("--command", default="bench/run.sh")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw latest.svg from latest.json")
    return parser.parse_args()


def main():
    args = parse_args()
    if args.replot:
        write_plot(json.loads((RESULTS / "latest.json").read_text())["results"])
        return 0

    available = servers(args.venv)
    chosen = [available[name] for name in args.servers.split(",")]
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    RESULTS.mkdir(exist_ok=True)
    runs = {server.name: {} for server in chosen}

    def record(server, scenario):
        print(f"  {server.name:12} {scenario.name:16}", end=" ", flush=True)
        try:
            figures = measure(server, scenario, args.seconds)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            # One failed measurement is a result, not the end of the run.
            print(f"failed: {error}", flush=True)
            figures = failed_measurement()
        else:
            print(f"{figures['rps']:>10,.0f} req/s  errors {figures['errors']:<6} "
                  f"p99 {fmt_ms(figures.get('p99_ms'))}  "
                  f"peak {figures['peak_rss_kib'] / 1024:.1f} MiB  "
                  f"cpu/req {fmt_cpu(figures.get('cpu_ms_per_request'))}", flush=True)
        runs[server.name].setdefault(scenario.name, []).append(figures)

    in_rounds = [s for s in chosen if s.in_rounds]
    for round_index in range(args.rounds):
        print(f"round {round_index + 1} of {args.rounds}", flush=True)
        for scenario in scenarios:
            # Alternate which server goes first, so that neither always runs warm.
            order = in_rounds if round_index % 2 == 0 else list(reversed(in_rounds))
            for server in order:
                if server.tls == scenario.tls:
                    record(server, scenario)
    once = [s for s in chosen if not s.in_rounds]
    if once:
        print("the Flask servers, one round", flush=True)
        for scenario in scenarios:
            for server in once:
                # The Flask servers speak HTTP/1.1 only.
                if server.tls == scenario.tls and not scenario.http2:
                    record(server, scenario)

    results = {name: {s: median_run(r) for s, r in by.items()} for name, by in runs.items()}
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {os.uname().release}",
        "command": args.command,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "footprint": footprints(chosen, runs),
    }
    write_report(results, meta)
    write_plot(results)
    print(f"wrote {RESULTS / 'latest.md'} and {RESULTS / 'latest.svg'}")
    failed = {f"{name} {s}": f["errors"] for name in ("smol-toy", "smol-toy-tls")
              for s, f in results.get(name, {}).items() if f["errors"]}
    if args.check and failed:
        print(f"smol-toy answered with errors: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
