//! The stream h2 reads and writes, watched on the way: each frame's header is seen
//! as its bytes pass (the kinds that count towards the flood limits, and whether a
//! header block is open), and a write the peer does not take is timed. h2 keeps
//! none of this, and the connection's decisions (`state`, `flood`) need it. The
//! client's end of its side is handed to h2 when the state's [`ClientEnd`] says.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::io::{AsyncRead, AsyncWrite};

use super::PREFACE;
use super::state::{ClientEnd, EndRead, Seen};

/// Frame types (RFC 9113 §6) and flags that matter here.
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// What the stream has seen, read by the connection between polls of h2. Atomics
/// only so that the connection's task stays `Send`; one task reads and writes them.
#[derive(Debug)]
pub struct Watch {
    start: Instant,
    /// Since when a write has waited for the peer to take bytes, in nanoseconds
    /// after `start` plus one; 0 when no write waits.
    write_stalled: AtomicU64,
    /// Since when a header block has been open (HEADERS without END_HEADERS), as
    /// `write_stalled`.
    block_open: AtomicU64,
    /// Frames received, by what they ask of the server.
    pub counts: FrameCounts,
    /// Streams being answered, and streams taken up in all, as the connection
    /// last counted them.
    open_streams: AtomicU32,
    accepted_streams: AtomicU32,
    /// Streams that wait for the client alone: for the rest of their request's
    /// body, or for room in its flow-control window.
    awaiting_client: AtomicU32,
}

/// A stream's wait for the client, counted in the [`Watch`] while it lasts.
pub struct AwaitingClient<'a>(&'a Watch);

impl Drop for AwaitingClient<'_> {
    fn drop(&mut self) {
        self.0.awaiting_client.fetch_sub(1, Relaxed);
    }
}

/// Frames received on one connection.
#[derive(Debug, Default)]
pub struct FrameCounts {
    /// HEADERS frames that opened a new stream.
    pub streams_opened: AtomicU32,
    /// RST_STREAM frames.
    pub resets: AtomicU32,
    /// SETTINGS frames that are not acknowledgements.
    pub settings: AtomicU32,
    /// PING frames that are not acknowledgements.
    pub pings: AtomicU32,
    /// PRIORITY, WINDOW_UPDATE and empty DATA frames without END_STREAM: frames
    /// that ask for work and carry nothing.
    pub control: AtomicU32,
}

#[cfg(test)]
impl FrameCounts {
    /// Counts as the watched stream would have counted them.
    pub fn of(opened: u32, resets: u32, settings: u32, pings: u32, control: u32) -> Self {
        let counts = FrameCounts::default();
        counts.streams_opened.store(opened, Relaxed);
        counts.resets.store(resets, Relaxed);
        counts.settings.store(settings, Relaxed);
        counts.pings.store(pings, Relaxed);
        counts.control.store(control, Relaxed);
        counts
    }
}

impl Watch {
    pub fn new() -> Self {
        Watch {
            start: Instant::now(),
            write_stalled: AtomicU64::new(0),
            block_open: AtomicU64::new(0),
            counts: FrameCounts::default(),
            open_streams: AtomicU32::new(0),
            accepted_streams: AtomicU32::new(0),
            awaiting_client: AtomicU32::new(0),
        }
    }

    /// Notes how many streams are being answered, and how many were taken up in
    /// all: while any is answered, a client that has closed its side is not yet
    /// said to have.
    pub fn set_streams(&self, open: u32, accepted: u32) {
        self.open_streams.store(open, Relaxed);
        self.accepted_streams.store(accepted, Relaxed);
    }

    /// Counts a stream as waiting for the client alone (a body, a window) until
    /// the guard is dropped: once the client has closed its side, neither comes.
    pub fn awaiting_client(&self) -> AwaitingClient<'_> {
        self.awaiting_client.fetch_add(1, Relaxed);
        AwaitingClient(self)
    }

    /// The streams taken up so far, if none is being answered now (a stream that
    /// waits for the client alone is not).
    fn idle_after(&self) -> Option<u32> {
        let open = self.open_streams.load(Relaxed);
        let awaiting = self.awaiting_client.load(Relaxed);
        (open <= awaiting).then(|| self.accepted_streams.load(Relaxed))
    }

    /// Since when a write has waited for the peer, if one does.
    pub fn write_stalled_since(&self) -> Option<Instant> {
        self.instant(&self.write_stalled)
    }

    /// Since when a header block has been open, if one is.
    pub fn header_block_open_since(&self) -> Option<Instant> {
        self.instant(&self.block_open)
    }

    /// What starts a deadline, as seen now.
    pub fn seen(&self) -> Seen {
        Seen {
            write_stalled_since: self.write_stalled_since(),
            header_block_open_since: self.header_block_open_since(),
        }
    }

    fn instant(&self, stamp: &AtomicU64) -> Option<Instant> {
        match stamp.load(Relaxed) {
            0 => None,
            nanos => Some(self.start + Duration::from_nanos(nanos - 1)),
        }
    }

    fn stamp_now(&self, stamp: &AtomicU64) {
        if stamp.load(Relaxed) == 0 {
            let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            stamp.store(nanos + 1, Relaxed);
        }
    }

    /// Notes a frame's header: its type, flags and stream.
    fn frame(&self, kind: u8, flags: u8, length: u32, stream: u32, highest_stream: &mut u32) {
        let counts = &self.counts;
        match kind {
            HEADERS => {
                if stream > *highest_stream {
                    *highest_stream = stream;
                    counts.streams_opened.fetch_add(1, Relaxed);
                }
                if flags & END_HEADERS == 0 {
                    self.stamp_now(&self.block_open);
                } else {
                    self.block_open.store(0, Relaxed);
                }
            }
            CONTINUATION if flags & END_HEADERS != 0 => self.block_open.store(0, Relaxed),
            RST_STREAM => _ = counts.resets.fetch_add(1, Relaxed),
            SETTINGS if flags & ACK == 0 => _ = counts.settings.fetch_add(1, Relaxed),
            PING if flags & ACK == 0 => _ = counts.pings.fetch_add(1, Relaxed),
            PRIORITY | WINDOW_UPDATE => _ = counts.control.fetch_add(1, Relaxed),
            DATA if length == 0 && flags & END_STREAM == 0 => {
                _ = counts.control.fetch_add(1, Relaxed)
            }
            _ => {}
        }
    }
}

/// Where the scan is in the bytes received: in the preface, in a frame's 9-byte
/// header, or in its payload.
#[derive(Debug)]
struct FrameScan {
    preface_left: usize,
    header: [u8; 9],
    header_len: usize,
    payload_left: usize,
    highest_stream: u32,
}

impl FrameScan {
    fn new() -> Self {
        FrameScan {
            preface_left: PREFACE.len(),
            header: [0; 9],
            header_len: 0,
            payload_left: 0,
            highest_stream: 0,
        }
    }

    fn scan(&mut self, mut bytes: &[u8], watch: &Watch) {
        while !bytes.is_empty() {
            let skip = self.preface_left.max(self.payload_left);
            if skip > 0 {
                let n = skip.min(bytes.len());
                if self.preface_left > 0 {
                    self.preface_left -= n;
                } else {
                    self.payload_left -= n;
                }
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == 9 {
                self.header_len = 0;
                let h = self.header;
                let length = u32::from_be_bytes([0, h[0], h[1], h[2]]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                self.payload_left = length as usize;
                watch.frame(h[3], h[4], length, stream, &mut self.highest_stream);
            }
        }
    }
}

/// The connection's stream, borrowed, with what passes through it noted in a
/// [`Watch`].
pub struct Watched<'a, S> {
    stream: &'a mut S,
    watch: &'a Watch,
    scan: FrameScan,
    /// The client has closed its side: it sends no more, and waits for answers.
    client_done: bool,
    client_end: ClientEnd,
}

impl<'a, S> Watched<'a, S> {
    /// The stream, from its first byte, the preface's.
    pub fn new(stream: &'a mut S, watch: &'a Watch) -> Self {
        Watched {
            stream,
            watch,
            scan: FrameScan::new(),
            client_done: false,
            client_end: ClientEnd::default(),
        }
    }

    /// Hands h2 the client's end, or holds it back, as the [`ClientEnd`] says.
    fn poll_client_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let stalled = self.watch.write_stalled_since().is_some();
        match self.client_end.read(self.watch.idle_after(), stalled) {
            EndRead::Give => Poll::Ready(Ok(0)),
            EndRead::Hold { wake } => {
                if wake {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }

    /// Notes whether a write went through or waits.
    fn written<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending => self.watch.stamp_now(&self.watch.write_stalled),
            Poll::Ready(_) => self.watch.write_stalled.store(0, Relaxed),
        }
        poll
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.client_done {
            match Pin::new(&mut *this.stream).poll_read(cx, buf) {
                Poll::Ready(Ok(0)) if !buf.is_empty() => this.client_done = true,
                Poll::Ready(Ok(n)) => {
                    this.scan.scan(&buf[..n], this.watch);
                    return Poll::Ready(Ok(n));
                }
                other => return other,
            }
        }
        this.poll_client_done(cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut *this.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(bytes)) = written {
            this.client_end.wrote(bytes);
        }
        this.written(written)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut *this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            this.client_end.flushed();
        }
        this.written(flushed)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        bytes.extend([kind, flags]);
        bytes.extend(stream.to_be_bytes());
        bytes.extend(payload);
        bytes
    }

    #[test]
    fn frames_are_counted_however_the_bytes_are_cut() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[0; 6]));
        bytes.extend(frame(SETTINGS, ACK, 0, &[]));
        bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x82; 5]));
        bytes.extend(frame(HEADERS, 0, 3, &[0x82; 3]));
        bytes.extend(frame(CONTINUATION, 0, 3, &[0x84]));
        bytes.extend(frame(PING, 0, 0, &[0; 8]));
        bytes.extend(frame(RST_STREAM, 0, 1, &[0; 4]));
        bytes.extend(frame(DATA, 0, 3, &[]));
        bytes.extend(frame(HEADERS, END_HEADERS, 3, &[0x82]));
        for cut in [1, 2, 7, 9, 10, 1000] {
            let watch = Watch::new();
            let mut scan = FrameScan::new();
            let mut seen_open = false;
            for chunk in bytes.chunks(cut) {
                scan.scan(chunk, &watch);
                seen_open |= watch.header_block_open_since().is_some();
            }
            let counts = &watch.counts;
            assert_eq!(counts.settings.load(Relaxed), 1, "cut {cut}");
            assert_eq!(
                counts.streams_opened.load(Relaxed),
                2,
                "trailers open no stream"
            );
            assert_eq!(counts.pings.load(Relaxed), 1);
            assert_eq!(counts.resets.load(Relaxed), 1);
            assert_eq!(counts.control.load(Relaxed), 1);
            assert!(seen_open || cut >= bytes.len(), "cut {cut}");
            assert!(
                watch.header_block_open_since().is_none(),
                "the last block ended"
            );
        }
    }
}
