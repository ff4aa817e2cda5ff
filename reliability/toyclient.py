"""Opens many connections at once, sends one GET on each, and reports what became
of every one: its status, or how it failed (refused, reset, closed without an
answer, timed out). Used by the reliability scripts; standard library only.

    python3 toyclient.py --port 4567 --connections 5000 [--path /toy] [--timeout 30] [--tls]
        [--source 127.0.0.2]

With --tls, every connection is HTTPS (the server's certificate is not checked).
With --source, the connections come from that address. Clients that open more than
about 10,000 connections between them should each have their own: once most of the
ephemeral ports to one destination are taken from one address, the kernel's search
for a free one makes each connect() cost a millisecond instead of 50 microseconds.

Prints "sent N" on stderr once every request is written (or its connection has
failed), then one JSON summary on stdout. Exits 1 unless every request got --expect
(default 200).

One thread drives every socket from one selector: a connection costs tens of
microseconds of the client's CPU, so 11,000 of them are written within a second or
two even while the server under test shares the machine's cores. (asyncio's streams
cost about a millisecond each, which made the scripts' timing depend on the load.)
"""

import argparse
import errno
import json
import selectors
import socket
import ssl
import sys
import time

# How often the deadlines are checked, in seconds.
DEADLINE_SCAN = 0.25
# Linux's IP_BIND_ADDRESS_NO_PORT (Python 3.11 lacks the name): bind() takes the
# address only, and connect() picks the port knowing the whole 4-tuple.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


class Exchange:
    """One connection and its one request, from connect to the server's close."""

    __slots__ = ("sock", "step", "deadline", "started", "unsent", "answer")

    def __init__(self, sock, started, deadline, request):
        self.sock = sock
        self.step = "connect"
        self.started = started
        self.deadline = deadline
        self.unsent = request
        self.answer = bytearray()


class Client:
    def __init__(self, args, tls):
        self.args = args
        self.tls = tls
        self.selector = selectors.DefaultSelector()
        self.request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
                        "Connection: close\r\n\r\n").encode()
        self.unsent = args.connections
        self.open = set()
        self.results = []

    def run(self):
        for _ in range(self.args.connections):
            self.connect()
        next_scan = time.monotonic() + DEADLINE_SCAN
        while self.open:
            for key, _ in self.selector.select(DEADLINE_SCAN):
                self.advance(key.data)
            now = time.monotonic()
            if now >= next_scan:
                next_scan = now + DEADLINE_SCAN
                for exchange in [e for e in self.open if e.deadline <= now]:
                    late = "connect-timeout" if exchange.step in ("connect", "handshake") else "timeout"
                    self.finish(exchange, late)
        return self.results

    def connect(self):
        started = time.monotonic()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if self.args.source:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.args.source, 0))
        code = sock.connect_ex((self.args.host, self.args.port))
        exchange = Exchange(sock, started, started + self.args.timeout, self.request)
        self.open.add(exchange)
        if code not in (0, errno.EINPROGRESS):
            self.finish(exchange, connect_failure(code))
            return
        self.selector.register(sock, selectors.EVENT_WRITE, exchange)

    def advance(self, exchange):
        """Takes the exchange as far as its socket lets it without blocking."""
        try:
            if exchange.step == "connect":
                code = exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self.finish(exchange, connect_failure(code))
                    return
                if self.tls:
                    self.selector.unregister(exchange.sock)
                    exchange.sock = self.tls.wrap_socket(
                        exchange.sock, server_hostname="localhost", do_handshake_on_connect=False)
                    self.selector.register(exchange.sock, selectors.EVENT_WRITE, exchange)
                    exchange.step = "handshake"
                else:
                    exchange.step = "send"
            if exchange.step == "handshake":
                exchange.sock.do_handshake()
                exchange.step = "send"
            if exchange.step == "send":
                while exchange.unsent:
                    exchange.unsent = exchange.unsent[exchange.sock.send(exchange.unsent):]
                self.count_sent()
                exchange.step = "read"
                exchange.deadline = time.monotonic() + self.args.timeout
                self.selector.modify(exchange.sock, selectors.EVENT_READ, exchange)
            while True:
                chunk = exchange.sock.recv(65536)
                if not chunk:
                    self.finish(exchange, status_of(exchange.answer))
                    return
                exchange.answer += chunk
        except ssl.SSLWantReadError:
            self.wait_for(exchange, selectors.EVENT_READ)
        except (ssl.SSLWantWriteError, BlockingIOError):
            want = selectors.EVENT_READ if exchange.step == "read" else selectors.EVENT_WRITE
            self.wait_for(exchange, want)
        except ssl.SSLError as error:
            self.finish(exchange, f"tls-{error.reason}")
        except ConnectionResetError:
            early = exchange.step in ("connect", "handshake")
            self.finish(exchange, "connect-ECONNRESET" if early else "reset")
        except OSError as error:
            name = errno.errorcode.get(error.errno, str(error.errno))
            early = exchange.step in ("connect", "handshake")
            self.finish(exchange, f"connect-{name}" if early else name)

    def wait_for(self, exchange, events):
        if self.selector.get_key(exchange.sock).events != events:
            self.selector.modify(exchange.sock, events, exchange)

    def count_sent(self):
        self.unsent -= 1
        if self.unsent == 0:
            print(f"sent {self.args.connections}", file=sys.stderr, flush=True)

    def finish(self, exchange, outcome):
        if exchange.step in ("connect", "handshake", "send"):
            self.count_sent()
        self.results.append((outcome, time.monotonic() - exchange.started))
        self.open.discard(exchange)
        try:
            self.selector.unregister(exchange.sock)
        except (KeyError, ValueError):
            pass
        exchange.sock.close()


def connect_failure(code):
    if code == errno.ECONNREFUSED:
        return "refused"
    return f"connect-{errno.errorcode.get(code, code)}"


def status_of(answer):
    if not answer:
        return "closed-without-answer"
    if not answer.startswith(b"HTTP/1."):
        return "garbled"
    return answer.split(b" ", 2)[1].decode(errors="replace")


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 4)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/toy")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--expect", default="200")
    parser.add_argument("--source", help="the local address to connect from")
    parser.add_argument("--tls", action="store_true", help="HTTPS, without checking the certificate")
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    started = time.monotonic()
    results = Client(args, tls).run()
    outcomes = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    latencies = [seconds for outcome, seconds in results if outcome == args.expect]
    summary = {
        "requests": args.connections,
        "outcomes": outcomes,
        "p50_s": percentile(latencies, 0.50),
        "p99_s": percentile(latencies, 0.99),
        "max_s": percentile(latencies, 1.0),
        "wall_s": round(time.monotonic() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return 0 if outcomes == {args.expect: args.connections} else 1


if __name__ == "__main__":
    sys.exit(main())
