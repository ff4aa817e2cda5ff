//! h3's transport, over quinn: h3's QUIC traits written over quinn's connection
//! and streams. It stands where h3-quinn would, for what that crate cannot give:
//! each stream's bytes pass the [`FrameCap`]; a request stream's
//! client can be seen to stop reading its answer (`STOP_SENDING`) while its
//! handler waits; and a read is polled in place, with no boxed future per stream.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::stream::{self, BoxStream, StreamExt};
use h3::error::Code;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};
use log::debug;
use quinn::{ConnectionError, ReadError, VarInt, WriteError};

use super::frame_cap::{FrameCap, StreamKind};

/// The unidirectional streams a client may open on one connection: its control
/// stream, QPACK's two, and a few of reserved types (grease). More is a flood:
/// each is work, and quinn gives its slot back as soon as h3 drops it.
const MAX_UNIDIRECTIONAL_STREAMS: u32 = 16;

/// The streams of one connection as they open, and what its caps stopped.
pub struct QuicConnection {
    connection: quinn::Connection,
    bidirectional:
        BoxStream<'static, Result<(quinn::SendStream, quinn::RecvStream), ConnectionError>>,
    unidirectional: BoxStream<'static, Result<quinn::RecvStream, ConnectionError>>,
    unidirectional_opened: u32,
    opener: QuicOpener,
    frame_limit: u64,
    abuse: Arc<Abuse>,
}

/// What the transport stopped on one connection.
#[derive(Debug, Default)]
pub struct Abuse {
    /// Streams stopped for a frame over the cap, not yet counted.
    frames_too_large: AtomicU32,
    /// The connection was closed for opening too many unidirectional streams.
    unidirectional_flood: AtomicBool,
}

impl Abuse {
    /// How many streams were stopped for a frame over the cap since last asked.
    pub fn take_frames_too_large(&self) -> u32 {
        self.frames_too_large.swap(0, Ordering::Relaxed)
    }

    /// Whether the connection was closed for a flood of unidirectional streams.
    pub fn unidirectional_flood(&self) -> bool {
        self.unidirectional_flood.load(Ordering::Relaxed)
    }
}

impl QuicConnection {
    /// h3's view of `connection`, whose frames other than DATA may be at most
    /// `frame_limit` bytes long.
    pub fn new(connection: quinn::Connection, frame_limit: u64) -> QuicConnection {
        let accepting = connection.clone();
        let bidirectional = stream::unfold(accepting, |connection| async {
            let accepted = connection.accept_bi().await;
            Some((accepted, connection))
        })
        .boxed();
        let accepting = connection.clone();
        let unidirectional = stream::unfold(accepting, |connection| async {
            let accepted = connection.accept_uni().await;
            Some((accepted, connection))
        })
        .boxed();
        QuicConnection {
            opener: QuicOpener {
                connection: connection.clone(),
                opening: None,
            },
            connection,
            bidirectional,
            unidirectional,
            unidirectional_opened: 0,
            frame_limit,
            abuse: Arc::default(),
        }
    }

    /// What the transport stops on this connection.
    pub fn abuse(&self) -> Arc<Abuse> {
        Arc::clone(&self.abuse)
    }

    /// The quinn connection.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.connection
    }

    fn recv_stream(&self, stream: quinn::RecvStream, kind: StreamKind) -> QuicRecvStream {
        QuicRecvStream {
            stream,
            cap: FrameCap::new(self.frame_limit, kind),
            abuse: Arc::clone(&self.abuse),
        }
    }
}

impl<B: Buf> quic::Connection<B> for QuicConnection {
    type RecvStream = QuicRecvStream;
    type OpenStreams = QuicOpener;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicRecvStream, ConnectionErrorIncoming>> {
        let accepted = ready!(self.unidirectional.poll_next_unpin(cx));
        let stream = accepted
            .expect("the streams never end")
            .map_err(connection_error)?;
        self.unidirectional_opened += 1;
        if self.unidirectional_opened > MAX_UNIDIRECTIONAL_STREAMS {
            debug!("HTTP/3: a flood of unidirectional streams");
            self.abuse
                .unidirectional_flood
                .store(true, Ordering::Relaxed);
            let code = Code::H3_EXCESSIVE_LOAD;
            close(&self.connection, code, b"too many unidirectional streams");
            let error_code = code.value();
            return Poll::Ready(Err(ConnectionErrorIncoming::ApplicationClose {
                error_code,
            }));
        }
        Poll::Ready(Ok(self.recv_stream(stream, StreamKind::Unidirectional)))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicBidiStream<B>, ConnectionErrorIncoming>> {
        let accepted = ready!(self.bidirectional.poll_next_unpin(cx));
        let (send, recv) = accepted
            .expect("the streams never end")
            .map_err(connection_error)?;
        Poll::Ready(Ok(QuicBidiStream {
            send: QuicSendStream::new(send),
            recv: self.recv_stream(recv, StreamKind::Request),
        }))
    }

    fn opener(&self) -> QuicOpener {
        QuicOpener {
            connection: self.connection.clone(),
            opening: None,
        }
    }
}

impl<B: Buf> quic::OpenStreams<B> for QuicConnection {
    type BidiStream = QuicBidiStream<B>;
    type SendStream = QuicSendStream<B>;

    fn poll_open_bidi(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<Result<QuicBidiStream<B>, StreamErrorIncoming>> {
        Poll::Ready(Err(server_opens_no_request_streams()))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicSendStream<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.opener, cx)
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        close(&self.connection, code, reason);
    }
}

/// A unidirectional stream being opened.
type Opening = Pin<Box<dyn Future<Output = Result<quinn::SendStream, ConnectionError>> + Send>>;

/// Opens the server's unidirectional streams: its control stream and QPACK's.
pub struct QuicOpener {
    connection: quinn::Connection,
    opening: Option<Opening>,
}

impl<B: Buf> quic::OpenStreams<B> for QuicOpener {
    type BidiStream = QuicBidiStream<B>;
    type SendStream = QuicSendStream<B>;

    fn poll_open_bidi(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<Result<QuicBidiStream<B>, StreamErrorIncoming>> {
        Poll::Ready(Err(server_opens_no_request_streams()))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicSendStream<B>, StreamErrorIncoming>> {
        let connection = &self.connection;
        let opening = self.opening.get_or_insert_with(|| {
            let connection = connection.clone();
            Box::pin(async move { connection.open_uni().await })
        });
        let opened = ready!(opening.as_mut().poll(cx));
        self.opening = None;
        let stream = opened.map_err(|error| StreamErrorIncoming::ConnectionErrorIncoming {
            connection_error: connection_error(error),
        })?;
        Poll::Ready(Ok(QuicSendStream::new(stream)))
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        close(&self.connection, code, reason);
    }
}

fn close(connection: &quinn::Connection, code: Code, reason: &[u8]) {
    let code = VarInt::from_u64(code.value()).unwrap_or(VarInt::MAX);
    connection.close(code, reason);
}

fn server_opens_no_request_streams() -> StreamErrorIncoming {
    StreamErrorIncoming::Unknown("an HTTP/3 server opens no request streams".into())
}

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
            self.abuse.frames_too_large.fetch_add(1, Ordering::Relaxed);
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
    fn new(stream: quinn::SendStream) -> Self {
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

/// A connection's end, as h3 reads it.
fn connection_error(error: ConnectionError) -> ConnectionErrorIncoming {
    match error {
        ConnectionError::ApplicationClosed(close) => ConnectionErrorIncoming::ApplicationClose {
            error_code: close.error_code.into_inner(),
        },
        ConnectionError::TimedOut => ConnectionErrorIncoming::Timeout,
        error => ConnectionErrorIncoming::Undefined(Arc::new(error)),
    }
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
