"""GETs a path over HTTP/3 with aioquic's client, N streams at once on one QUIC
connection; prints one JSON line: the statuses, the bodies seen, the time taken.

Usage: python3 tests/http3/aioquic_get.py HOST PORT PATH [STREAMS] [CA-FILE]
Needs: aioquic. Talks only to the address given.
"""
import asyncio
import json
import ssl
import sys
import time

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.waiting = {}

    def quic_event_received(self, event):
        for h3_event in self.h3.handle_event(event):
            answer = self.waiting.get(getattr(h3_event, "stream_id", None))
            if answer is None:
                continue
            if isinstance(h3_event, HeadersReceived):
                answer["headers"] = {k.decode(): v.decode() for k, v in h3_event.headers}
            elif isinstance(h3_event, DataReceived):
                answer["body"] += h3_event.data
            if getattr(h3_event, "stream_ended", False):
                answer["done"].set_result(None)

    async def get(self, authority, path):
        stream_id = self._quic.get_next_available_stream_id()
        answer = {"headers": {}, "body": b"", "done": asyncio.get_running_loop().create_future()}
        self.waiting[stream_id] = answer
        self.h3.send_headers(
            stream_id,
            [(b":method", b"GET"), (b":scheme", b"https"),
             (b":authority", authority.encode()), (b":path", path.encode()),
             (b"user-agent", b"aioquic")],
            end_stream=True,
        )
        self.transmit()
        await answer["done"]
        return answer


async def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    streams = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    if len(sys.argv) > 5:
        configuration.load_verify_locations(sys.argv[5])
    else:
        configuration.verify_mode = ssl.CERT_NONE
    configuration.server_name = "localhost"
    async with connect(host, port, configuration=configuration, create_protocol=Client) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.get(f"localhost:{port}", path) for _ in range(streams)))
        elapsed = time.monotonic() - started
    print(json.dumps({
        "statuses": sorted({a["headers"].get(":status") for a in answers}),
        "bodies": sorted({a["body"].decode() for a in answers}),
        "request_ids": len({a["headers"].get("x-request-id") for a in answers}),
        "elapsed_ms": round(elapsed * 1000),
    }))


asyncio.run(main())
