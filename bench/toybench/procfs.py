"""What /proc says about a server: its process tree, CPU time and memory.

CPU time comes from the scheduler's nanosecond counters (/proc/PID/task/*/schedstat):
/proc/PID/stat counts in 10 ms ticks, too coarse for 100 requests a second. This is
the one way the project measures CPU time; the reliability scripts call it as

    python3 bench/toybench/procfs.py cpu-ns PID
"""

import sys
from pathlib import Path


def process_tree(pid):
    """The pid and all its descendants."""
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                tree.extend(children)
                frontier.extend(children)
        except OSError:
            pass
    return tree


def status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ns(pid):
    """CPU time of every thread of the process tree, in nanoseconds."""
    total = 0
    for member in process_tree(pid):
        try:
            for task in Path(f"/proc/{member}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pid):
    """Resident memory of the process tree."""
    return sum(status_kib(member, "VmRSS") for member in process_tree(pid))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "cpu-ns":
        sys.exit("usage: procfs.py cpu-ns PID")
    print(cpu_ns(int(sys.argv[2])))
