"""The report: medians over the rounds, bench/results/latest.md and latest.json,
and the plot, latest.svg."""

import json
import statistics
import subprocess

from .load import SCENARIOS
from .servers import BENCH

RESULTS = BENCH / "results"

# The figures whose smol-toy/axum ratio is reported: req/s is better above 1, the
# others below.
RATIO_FIGURES = [
    ("rps", "req/s"),
    ("p50_ms", "p50"),
    ("p99_ms", "p99"),
    ("peak_rss_kib", "peak RSS"),
    ("rss_above_idle_kib", "RSS above idle"),
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


def fmt_per_waiting(scenario, figures, above_idle=False):
    """Peak RSS over the requests waiting at once (a connection's, or an HTTP/2
    stream's), everything included (or only what is above the idle server's RSS), for
    the /toy scenarios, where every request waits."""
    if scenario.path != "/toy" or not figures.get("peak_rss_kib"):
        return "–"
    rss = figures["peak_rss_kib"] - (figures.get("idle_rss_kib", 0) if above_idle else 0)
    return f"{rss / scenario.waiting:.1f} KiB"


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
        "| scenario | server | req/s | p50 | p99 | max | errors | peak RSS "
        "| RSS/waiting request | above idle | CPU/request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
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
                f"{fmt_per_waiting(scenario, figures)} | "
                f"{fmt_per_waiting(scenario, figures, above_idle=True)} | "
                f"{fmt_cpu(figures.get('cpu_ms_per_request'))} |"
            )
    fixed = [s for s in SCENARIOS if s.requests]
    for scenario in fixed:
        answered = [(name, by[scenario.name]) for name, by in results.items()
                    if scenario.name in by and by[scenario.name].get("elapsed_s")]
        if answered:
            lines += ["", f"{scenario.label}, time to the last answer: "
                      + ", ".join(f"{f['elapsed_s']:.2f} s ({name}"
                                  + (f", {f['errors']:,.0f} failed" if f["errors"] else "")
                                  + ")" for name, f in answered)
                      + "."]
    lines += ["", "## smol-toy / axum", "",
              "Ratios of the medians (req/s: above 1 is better; the others: below 1 is better). "
              "Over HTTPS: smol-toy-tls / axum-tls (axum-server with rustls, both on ring).",
              "", "| scenario | " + " | ".join(label for _, label in RATIO_FIGURES) + " |",
              "| --- |" + " ---: |" * len(RATIO_FIGURES)]
    ratios = {}
    for scenario in SCENARIOS:
        # Over HTTPS, smol-toy-tls against axum-tls (axum-server with rustls).
        suffix = "-tls" if scenario.tls else ""
        ours = results.get("smol-toy" + suffix, {}).get(scenario.name)
        theirs = results.get("axum" + suffix, {}).get(scenario.name)
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
            + (f"{size:,} bytes" if size else "–") + " |"
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
                  if s.path == "/toy" and s.tool == "wrk" and s.name in by_scenario
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
                cpu_us = 1000 * (figures.get("cpu_ms_per_request") or 0)
                out.write(f"{connections} {figures['rps']:.1f} "
                          f"{figures['p50_ms'] / 1000:.4f} {figures['p99_ms'] / 1000:.4f} "
                          f"{figures['peak_rss_kib'] / 1024:.2f} {cpu_us:.1f}\n")
            out.write("\n\n")
    blocks = len(lines)
    script = f"""
set terminal svg size 1100,840 dynamic font 'sans,12' background '#ffffff'
set output '{RESULTS / "latest.svg"}'
set multiplot layout 2,2 title 'GET /toy (waits 1 s) against concurrency'
set logscale x
set ylabel 'peak RSS (MiB)'
set xrange [50:20000]
set grid
set key top left opaque box
set xlabel 'concurrent connections'
set logscale y
plot for [i=0:{blocks - 1}] '{data}' index i using 1:5 with linespoints lw 2 lc i+1 pt 7 title columnheader(1)
set ylabel 'server CPU per request (µs)'
plot for [i=0:{blocks - 1}] '{data}' index i using 1:6 with linespoints lw 2 lc i+1 pt 7 title columnheader(1)
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
