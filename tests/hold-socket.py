#!/usr/bin/env python3
"""Plays systemd's part in socket activation, for the tests.

    hold-socket.py [--udp] BINARY [ARGS...]

Opens a TCP listening socket on 127.0.0.1 (a free port) and prints `port N`; with
--udp, a UDP socket on the same port too (systemd's ListenDatagram=), passed as
descriptor 4 beside it. Then reads commands, one per line, on stdin:

    start   runs BINARY ARGS with the socket as descriptor 3, LISTEN_FDS=1 and
            LISTEN_PID set to the server's own PID, as systemd does; prints
            `started PID`
    stop    sends SIGTERM to the server, waits for it, prints `exited CODE`

The socket stays open the whole time, as systemd holds a .socket unit's socket
across restarts, so connections that arrive between two servers wait in its
backlog. Exits at the end of stdin, after stopping a server that still runs.
"""

import os
import signal
import socket
import sys


def start(sockets, argv):
    pid = os.fork()
    if pid == 0:
        # The server's stdout goes where this script's stderr goes: this script's
        # stdout is for its replies.
        os.dup2(2, 1)
        for fd, passed in enumerate(sockets, start=3):
            os.dup2(passed.fileno(), fd)
            os.set_inheritable(fd, True)
        env = dict(os.environ, LISTEN_FDS=str(len(sockets)), LISTEN_PID=str(os.getpid()))
        os.execve(argv[0], argv, env)
    return pid


def stop(pid):
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main():
    argv = sys.argv[1:]
    udp = argv[:1] == ["--udp"]
    argv = argv[1:] if udp else argv
    while True:
        listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        port = listener.getsockname()[1]
        sockets = [listener]
        if not udp:
            break
        datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            datagrams.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        sockets.append(datagrams)
        break
    print(f"port {port}", flush=True)
    server = None
    for line in sys.stdin:
        command = line.strip()
        if command == "start" and server is None:
            server = start(sockets, argv)
            print(f"started {server}", flush=True)
        elif command == "stop" and server is not None:
            print(f"exited {stop(server)}", flush=True)
            server = None
        else:
            print(f"error: cannot {command!r} now", flush=True)
    if server is not None:
        stop(server)


if __name__ == "__main__":
    main()
