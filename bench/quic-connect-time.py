"""How long aioquic takes to set up a QUIC connection to a server on 127.0.0.1,
one after the other: the median and 90th percentile of N, in milliseconds. Run
against `--quic-retry always` and `under-load` to see what a Retry costs.

Usage: python3 bench/quic-connect-time.py PORT [N]   (default 200)
Needs: aioquic.
"""
import asyncio
import ssl
import statistics
import sys
import time

from aioquic.asyncio.client import connect
from aioquic.h3.connection import H3_ALPN
from aioquic.quic.configuration import QuicConfiguration


async def main(port, count):
    times = []
    for _ in range(count):
        configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
        configuration.verify_mode = ssl.CERT_NONE
        configuration.server_name = "localhost"
        started = time.perf_counter()
        async with connect("127.0.0.1", port, configuration=configuration, wait_connected=True):
            times.append(time.perf_counter() - started)
    p90 = sorted(times)[int(0.9 * count)]
    print(f"median {statistics.median(times) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms over {count}")


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200))
