"""Opens many connections at once, sends one GET on each, and reports what became
of every one: its status, or how it failed (refused, reset, closed without an
answer, timed out). Used by the reliability scripts; standard library only.

    python3 toyclient.py --port 4567 --connections 5000 [--path /toy] [--timeout 30] [--tls]

With --tls, every connection is HTTPS (the server's certificate is not checked).

Prints "sent N" on stderr once every request is written, then one JSON summary on
stdout. Exits 1 unless every request got --expect (default 200).
"""

import argparse
import asyncio
import errno
import json
import ssl
import sys
import time


async def one_request(host, port, path, timeout, sent, tls=None):
    """Returns (outcome, seconds): outcome is the status code as a string, or the
    name of the failure."""
    started = time.monotonic()
    try:
        connecting = asyncio.open_connection(host, port, ssl=tls,
                                             server_hostname="localhost" if tls else None)
        reader, writer = await asyncio.wait_for(connecting, timeout)
    except ConnectionRefusedError:
        sent.set_result_once()
        return "refused", 0.0
    except (asyncio.TimeoutError, TimeoutError):
        sent.set_result_once()
        return "connect-timeout", 0.0
    except ssl.SSLError as error:
        sent.set_result_once()
        return f"tls-{error.reason}", 0.0
    except OSError as error:
        sent.set_result_once()
        return f"connect-{errno.errorcode.get(error.errno, error.errno)}", 0.0
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        sent.set_result_once()
        answer = await asyncio.wait_for(reader.read(), timeout)
        if not answer:
            return "closed-without-answer", time.monotonic() - started
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.") else "garbled"
        return status, time.monotonic() - started
    except ConnectionResetError:
        return "reset", time.monotonic() - started
    except (asyncio.TimeoutError, TimeoutError):
        return "timeout", time.monotonic() - started
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno)), time.monotonic() - started
    finally:
        writer.close()


class Countdown:
    """Prints "sent N" once all N requests are written or have failed."""

    def __init__(self, total):
        self.left = total
        self.total = total

    def set_result_once(self):
        self.left -= 1
        if self.left == 0:
            print(f"sent {self.total}", file=sys.stderr, flush=True)


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 4)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/toy")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--expect", default="200")
    parser.add_argument("--tls", action="store_true", help="HTTPS, without checking the certificate")
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    sent = Countdown(args.connections)
    started = time.monotonic()
    results = await asyncio.gather(
        *(one_request(args.host, args.port, args.path, args.timeout, sent, tls)
          for _ in range(args.connections))
    )
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
    sys.exit(asyncio.run(main()))
