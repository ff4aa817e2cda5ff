"""The benchmark's parts: the servers and their processes (servers), what /proc says
about them (procfs), the load tools (load), and the report (report). bench/bench.py
is the command line over them."""
