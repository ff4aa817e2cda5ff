//! A connection's bytes: the read buffer, the responses not yet written, and every
//! read and write on the stream.
//!
//! The write policy lives here alone. Encoded responses collect in the output buffer
//! and are written, all together, when the connection is about to wait (for input,
//! in [`ConnectionIo::receive`], or for a handler, in
//! [`ConnectionIo::before_handler_waits`]), or at once when a response ends the
//! connection or `MAX_PENDING_OUTPUT` bytes are pending ([`ConnectionIo::queued`]).
//! So the answers to pipelined requests leave in one write, and an earlier answer
//! never waits behind a later request's handler.

use std::io;
use std::time::{Duration, Instant};

use log::debug;
use smol::io::AsyncWriteExt;

use super::Transport;
use super::transport::Peer;
use crate::shutdown::{Shutdown, with_deadline};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;
/// Encoded responses are written once this much is pending, even while pipelined
/// requests remain to be answered.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// How long a closing connection keeps reading what the client still sends, so that
/// unread bytes do not make the kernel reset the connection before the client has
/// read the response.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes read and dropped while lingering.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// How one wait for input ended.
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
pub struct ConnectionIo<S> {
    stream: S,
    peer: Peer,
    /// Bytes read and not yet consumed: the current head, and what was pipelined after it.
    input: Vec<u8>,
    /// Encoded responses not yet written, reused from one request to the next.
    output: Vec<u8>,
    write_timeout: Duration,
}

impl<S: Transport> ConnectionIo<S> {
    /// Empty buffers over `stream`; `peer` names the client in debug logs.
    pub fn new(stream: S, peer: Peer, write_timeout: Duration) -> Self {
        ConnectionIo {
            stream,
            peer,
            input: Vec::new(),
            output: Vec::new(),
            write_timeout,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The bytes read and not yet consumed.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// Drops the first `len` bytes read.
    pub fn consume(&mut self, len: usize) {
        self.input.drain(..len);
    }

    /// The buffer responses are encoded into; call [`queued`](Self::queued) after.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// Applies the write policy to a response just encoded into the output buffer.
    pub async fn queued(&mut self, ends_connection: bool) -> io::Result<()> {
        if ends_connection || self.output.len() >= MAX_PENDING_OUTPUT {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// Gets the connection ready for a handler that waits: answers to earlier
    /// pipelined requests go out first, and buffers with nothing in them are given
    /// back, so that thousands of connections waiting on `/toy` hold no buffers.
    pub async fn before_handler_waits(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.output = Vec::new();
        if self.input.is_empty() {
            self.input = Vec::new();
        }
        Ok(())
    }

    /// Writes what is pending, then reads what the client sends into the read
    /// buffer, waiting at most until `deadline` and, if given, until `shutdown`
    /// starts. Bytes that have already arrived win over both.
    pub async fn receive(&mut self, deadline: Instant, shutdown: Option<&Shutdown>) -> Received {
        if self.flush().await.is_err() {
            return Received::Failed;
        }
        let filled = self.input.len();
        self.input.resize(filled + READ_CHUNK, 0);
        let read = with_deadline(
            deadline,
            read_into(&mut self.stream, &mut self.input[filled..]),
        );
        let outcome = match shutdown {
            None => read.await,
            Some(shutdown) => match shutdown.until_triggered(read).await {
                Some(outcome) => outcome,
                None => {
                    self.input.truncate(filled);
                    return Received::ShutDown;
                }
            },
        };
        let (received, result) = match outcome {
            None => (0, Received::TimedOut),
            Some(Ok(0)) => (0, Received::Eof),
            Some(Ok(n)) => (n, Received::Data),
            Some(Err(error)) => {
                debug!("{}: connection failed: {error}", self.peer);
                (0, Received::Failed)
            }
        };
        self.input.truncate(filled + received);
        result
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
            if !matches!(self.receive(deadline, None).await, Received::Data) {
                return false;
            }
        }
    }

    /// Writes what is pending and closes the sending side, then reads and drops what
    /// the client still sends for a short while, so that the client reads the last
    /// response before the close.
    pub async fn linger(&mut self) {
        if self.flush().await.is_err() || self.stream.shutdown_write().is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut discarded = 0;
        while discarded < LINGER_MAX_BYTES {
            discarded += self.input.len();
            self.input.clear();
            if !matches!(self.receive(deadline, None).await, Received::Data) {
                return;
            }
        }
    }

    /// Writes the responses not yet written, within the write timeout.
    async fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.write_timeout;
        let written = with_deadline(deadline, self.stream.write_all(&self.output))
            .await
            .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()));
        self.output.clear();
        if let Err(error) = &written {
            debug!("{}: writing the response failed: {error}", self.peer);
        }
        written
    }
}

/// Reads what has arrived into `buffer`, waiting for readiness when nothing has.
async fn read_into<S: Transport>(stream: &mut S, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.try_read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
        stream.readable().await?;
    }
}
