//! A QUIC stream as h3 reads and writes it: a request stream's two halves, what
//! a stream receives (through its frame cap, polled in place) and what it sends
//! (the frame being written; a future that says when the client stopped reading).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h3::error::Code;
use h3::quic::{self, StreamErrorIncoming, StreamId, WriteBuf};
use log::debug;
use quinn::{ReadError, VarInt, WriteError};

use super::frame_cap::FrameCap;
use super::transport::{Abuse, connection_error};

/// A request stream: the answer's half and the request's.
pub struct QuicBidiStream<B: Buf> {
    pub send: QuicSendStream<B>,
    pub recv: QuicRecvStream,
}

impl<B: Buf> quic::BidiStream<B> for QuicBidiStream<B> {
    type SendStream = QuicSendStream<B>;
    type RecvStream = QuicRecvStream;

    fn split(self) -> (QuicSendStream<B>, QuicRecvStream) {
        (self.send, self.recv)
    }
}

impl<B: Buf> quic::RecvStream for QuicBidiStream<B> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}

impl<B: Buf> quic::SendStream<B> for QuicBidiStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code);
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

/// What a stream receives, through its frame cap.
pub struct QuicRecvStream {
    stream: quinn::RecvStream,
    cap: FrameCap,
    abuse: Arc<Abuse>,
}

impl QuicRecvStream {
    pub(super) fn new(stream: quinn::RecvStream, cap: FrameCap, abuse: Arc<Abuse>) -> Self {
        QuicRecvStream { stream, cap, abuse }
    }
}

impl quic::RecvStream for QuicRecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        // quinn keeps the waker of a read that must wait; the future itself holds
        // nothing, and is made anew at each poll.
        let read = ready!(pin!(self.stream.read_chunk(usize::MAX, true)).poll(cx));
        let chunk = match read {
            Ok(Some(chunk)) => chunk.bytes,
            Ok(None) => return Poll::Ready(Ok(None)),
            Err(error) => return Poll::Ready(Err(read_error(error))),
        };
        if let Err(too_large) = self.cap.read(&chunk) {
            debug!(
                "HTTP/3: stream {}: a frame of type {:#x} says {} bytes, over the cap",
                self.stream.id(),
                too_large.frame_type,
                too_large.length
            );
            self.abuse.frame_too_large();
            let code = Code::H3_EXCESSIVE_LOAD.value();
            self.stop_sending(code);
            return Poll::Ready(Err(StreamErrorIncoming::StreamTerminated {
                error_code: code,
            }));
        }
        Poll::Ready(Ok(Some(chunk)))
    }

    fn stop_sending(&mut self, error_code: u64) {
        let code = VarInt::from_u64(error_code).unwrap_or(VarInt::MAX);
        // Already stopped, or all read: nothing to tell the client.
        let _ = self.stream.stop(code);
    }

    fn recv_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

/// What a stream sends: the frame being written, written as quinn takes it.
pub struct QuicSendStream<B: Buf> {
    stream: quinn::SendStream,
    writing: Option<WriteBuf<B>>,
}

impl<B: Buf> QuicSendStream<B> {
    pub(super) fn new(stream: quinn::SendStream) -> Self {
        QuicSendStream {
            stream,
            writing: None,
        }
    }

    /// Done once the client has stopped reading the stream (or the stream's data
    /// is all acknowledged, or the connection is gone): a future of its own, which
    /// does not borrow the stream.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let stopped = self.stream.stopped();
        async move {
            let _ = stopped.await;
        }
    }
}

impl<B: Buf> quic::SendStream<B> for QuicSendStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        if let Some(writing) = &mut self.writing {
            while writing.has_remaining() {
                let written = ready!(Pin::new(&mut self.stream).poll_write(cx, writing.chunk()));
                writing.advance(written.map_err(write_error)?);
            }
            self.writing = None;
        }
        Poll::Ready(Ok(()))
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        if self.writing.is_some() {
            return Err(StreamErrorIncoming::Unknown(
                "a frame was sent before the last was written".into(),
            ));
        }
        self.writing = Some(data.into());
        Ok(())
    }

    fn poll_finish(&mut self, _: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        let finished = self.stream.finish();
        Poll::Ready(finished.map_err(|closed| StreamErrorIncoming::Unknown(Box::new(closed))))
    }

    fn reset(&mut self, reset_code: u64) {
        let code = VarInt::from_u64(reset_code).unwrap_or(VarInt::MAX);
        let _ = self.stream.reset(code);
    }

    fn send_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

fn stream_id(id: quinn::StreamId) -> StreamId {
    StreamId::try_from(u64::from(id)).expect("quinn's stream ids are varints")
}

fn read_error(error: ReadError) -> StreamErrorIncoming {
    match error {
        ReadError::Reset(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        ReadError::ConnectionLost(error) => StreamErrorIncoming::ConnectionErrorIncoming {
            connection_error: connection_error(error),
        },
        error => StreamErrorIncoming::Unknown(Box::new(error)),
    }
}

fn write_error(error: WriteError) -> StreamErrorIncoming {
    match error {
        WriteError::Stopped(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        WriteError::ConnectionLost(error) => StreamErrorIncoming::ConnectionErrorIncoming {
            connection_error: connection_error(error),
        },
        error => StreamErrorIncoming::Unknown(Box::new(error)),
    }
}
