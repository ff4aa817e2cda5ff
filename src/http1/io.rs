//! A connection's bytes: the read buffer, the responses not yet written, and every
//! read and write on the stream.
//!
//! The write policy lives here alone. Encoded responses collect in the output buffer
//! and are written, all together, when the connection is about to wait (the
//! connection calls [`ConnectionIo::flush`] before it waits for input or a handler),
//! or at once when a response ends the connection or `MAX_PENDING_OUTPUT` bytes are
//! pending ([`ConnectionIo::queued`]). So the answers to pipelined requests leave in
//! one write, and an earlier answer never waits behind a later request's handler.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use log::debug;
use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::shared::linger;
use crate::shutdown::Shutdown;
use crate::timing_wheel::{TimingWheel, with_deadline};
use crate::transport::Peer;

/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 4096;

thread_local! {
    /// Where reads land before the bytes read are copied to the connection's own
    /// buffer: one per worker thread, so that a connection waiting for input holds
    /// no buffer, and a read zeroes nothing.
    static READ_SCRATCH: RefCell<Box<[u8; READ_CHUNK]>> = RefCell::new(Box::new([0; READ_CHUNK]));
}
/// Encoded responses are written once this much is pending, even while pipelined
/// requests remain to be answered.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;

/// How one wait for input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// New bytes are in the read buffer.
    Data,
    /// The client closed its sending side.
    Eof,
    /// The deadline passed.
    TimedOut,
    /// The shutdown started.
    ShutDown,
    /// Reading, or writing what was pending, failed.
    Failed,
}

/// The stream and its buffers.
pub struct ConnectionIo<'a, S> {
    stream: S,
    peer: Peer,
    /// Bytes read and not yet consumed: the current head, and what was pipelined after it.
    input: Vec<u8>,
    /// Encoded responses not yet written, reused from one request to the next.
    output: Vec<u8>,
    write_timeout: Duration,
    /// The timing wheel of the connections' timeouts, where the waits for input keep their deadlines.
    timeouts: &'a TimingWheel,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> ConnectionIo<'a, S> {
    /// Empty buffers over `stream`; `peer` names the client in debug logs.
    pub fn new(stream: S, peer: Peer, write_timeout: Duration, timeouts: &'a TimingWheel) -> Self {
        ConnectionIo {
            stream,
            peer,
            input: Vec::new(),
            output: Vec::new(),
            write_timeout,
            timeouts,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The bytes read and not yet consumed.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// Drops the first `len` bytes read.
    pub fn consume(&mut self, len: usize) {
        self.input.drain(..len);
    }

    /// Applies the write policy to a response just encoded into the output buffer.
    pub async fn queued(&mut self, ends_connection: bool) -> io::Result<()> {
        if ends_connection || self.output.len() >= MAX_PENDING_OUTPUT {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// Gives back buffers with nothing in them before the connection waits, so that
    /// thousands of waiting connections hold none: the read buffer always (reads
    /// land in the thread's scratch buffer first), the write buffer when
    /// `handlers_wait` (between requests it is kept, to encode the next answer
    /// without growing it again). Call it when every answer is written.
    pub fn release_buffers(&mut self, handlers_wait: bool) {
        if handlers_wait {
            self.output = Vec::new();
        }
        if self.input.is_empty() {
            self.input = Vec::new();
        }
    }

    /// Reads what the client has sent into the read buffer, waiting at most until
    /// `deadline` (if any) and, if given, until `shutdown` starts. Bytes that have
    /// already arrived win over both. Writes nothing: call [`flush`](Self::flush)
    /// first.
    ///
    /// Cancel-safe: the read buffer changes only once bytes have arrived, so the
    /// connection may stop waiting when a handler answers first.
    pub async fn receive(
        &mut self,
        deadline: Option<Instant>,
        shutdown: Option<&Shutdown>,
    ) -> Received {
        let timeouts = self.timeouts;
        let read = timeouts.run_until(deadline, poll_fn(|cx| self.poll_receive(cx)));
        let read = match shutdown {
            None => read.await,
            Some(shutdown) => match shutdown.until_triggered(read).await {
                Some(outcome) => outcome,
                None => return Received::ShutDown,
            },
        };
        read.unwrap_or(Received::TimedOut)
    }

    /// Reads into the thread's scratch buffer, then keeps the bytes read. The
    /// scratch buffer is borrowed only for the one poll, never across a wait.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        let read = READ_SCRATCH.with_borrow_mut(|scratch| {
            let read = Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..]);
            if let Poll::Ready(Ok(n)) = read {
                self.input.extend_from_slice(&scratch[..n]);
            }
            read
        });
        read.map(|read| match read {
            Ok(0) => Received::Eof,
            Ok(_) => Received::Data,
            Err(error) => {
                debug!("{}: connection failed: {error}", self.peer);
                Received::Failed
            }
        })
    }

    /// Reads and drops an unread body of `length` bytes, waiting at most until
    /// `deadline`. Returns whether all of it arrived, so that the next request can
    /// be read.
    pub async fn skip(&mut self, length: u64, deadline: Instant) -> bool {
        let mut remaining = length;
        loop {
            let buffered = self
                .input
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            self.consume(buffered);
            remaining -= buffered as u64;
            if remaining == 0 {
                return true;
            }
            if self.flush().await.is_err() {
                return false;
            }
            if !matches!(self.receive(Some(deadline), None).await, Received::Data) {
                return false;
            }
        }
    }

    /// Who is at the other end, and the responses not yet written, at once.
    pub fn peer_and_output(&mut self) -> (&Peer, &mut Vec<u8>) {
        (&self.peer, &mut self.output)
    }

    /// Writes what is pending and closes the sending side, then reads and drops what
    /// the client still sends for a short while, so that the client reads the last
    /// response before the close.
    pub async fn linger(&mut self) {
        if self.close().await.is_ok() {
            self.input = Vec::new();
            linger(&mut self.stream, self.timeouts).await;
        }
    }

    /// Writes what is pending, then closes the sending side (for TLS, after its
    /// close_notify), within the write timeout.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        within(self.write_timeout, self.stream.close()).await
    }

    /// Writes the responses not yet written, within the write timeout.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        // A stream that encrypts holds what it could not send yet until flushed.
        let write = async {
            self.stream.write_all(&self.output).await?;
            self.stream.flush().await
        };
        let written = within(self.write_timeout, write).await;
        self.output.clear();
        if let Err(error) = &written {
            debug!("{}: writing the response failed: {error}", self.peer);
        }
        written
    }
}

/// Runs a write of the stream for at most `timeout`; `TimedOut` if it took longer.
async fn within(timeout: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    with_deadline(Instant::now() + timeout, write)
        .await
        .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
}
