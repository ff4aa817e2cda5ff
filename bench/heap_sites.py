#!/usr/bin/env python3
"""Sorts heaptrack's peak consumers (`heaptrack_print --print-peaks`) by owner: the
first frame of each allocation's backtrace that names one. Usage:
heap_sites.py PEAKS_FILE STREAMS; prints bytes per stream for each owner."""

import re
import sys

# The first rule whose pattern a backtrace frame matches names the owner.
OWNERS = [
    ("h2: the stream's state (h2's store slab)", r"h2::proto::streams::store::VacantEntry::insert"),
    ("h2: frames and events waiting (h2's buffer slab)", r"h2::proto::streams::buffer::Deque::push_back"),
    ("h2: the connection's write buffer", r"h2::codec::framed_write::FramedWrite.*::new"),
    ("h2: the connection's read buffer", r"tokio_util::codec::framed_read::FramedRead.*::new"),
    ("h2: HPACK tables", r"h2::hpack::"),
    ("h2: stream ids (indexmap)", r"indexmap::"),
    ("h2: the rest", r"h2::"),
    ("smol-toy: the stream's future", r"smol_toy::http2::stream::answer"),
    ("smol-toy: the handler's future", r"smol_toy::exchange::dispatch::call"),
    ("smol-toy: FuturesUnordered's task", r"futures_unordered::FuturesUnordered.*::push"),
    ("smol-toy: timer wheel entries", r"smol_toy::timing_wheel"),
    ("tasks (smol-toy: the connection's; axum: one per stream and connection)",
     r"spawn_connection|tokio::runtime::task::core::Cell.*::new"),
    ("request header maps (http::HeaderMap)", r"http::header::map::HeaderMap"),
    ("axum and tower: routing, handler", r"axum::|tower::"),
]
SCALE = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def main():
    text = open(sys.argv[1]).read()
    streams = int(sys.argv[2])
    owners = {}
    for block in re.split(r"\n(?=[\d.]+[KMG]? peak memory consumed over)", text):
        head = re.match(r"([\d.]+)([KMG]?) peak memory consumed over", block)
        if not head:
            continue
        size = float(head.group(1)) * SCALE[head.group(2)]
        owner = "other"
        for frame in block.split("\n")[1:]:
            named = [name for name, pattern in OWNERS if re.search(pattern, frame)]
            if named:
                owner = named[0]
                break
        owners[owner] = owners.get(owner, 0) + size
    for owner, size in sorted(owners.items(), key=lambda item: -item[1]):
        print(f"{size / streams:8.0f} B/stream  {owner}")
    print(f"{sum(owners.values()) / streams:8.0f} B/stream  in all (each site at its own peak)")


if __name__ == "__main__":
    main()
