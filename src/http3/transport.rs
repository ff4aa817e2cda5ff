//! h3's transport, over quinn: h3's QUIC traits written over quinn's connection
//! (here) and its streams (`quic_stream.rs`). It stands where h3-quinn would, for
//! what that crate cannot give: each stream's bytes pass the frame cap; a request
//! stream's client can be seen to stop reading its answer (`STOP_SENDING`) while
//! its handler waits; a read is polled in place, with no boxed future per stream;
//! and a flood of unidirectional streams ends the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Buf;
use futures_util::stream::{self, BoxStream, StreamExt};
use h3::error::Code;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming};
use log::debug;
use quinn::{ConnectionError, VarInt};

use super::frame_cap::{FrameCap, StreamKind};
pub use super::quic_stream::{QuicBidiStream, QuicRecvStream, QuicSendStream};

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
    /// Counts a stream stopped for a frame over the cap.
    pub(super) fn frame_too_large(&self) {
        self.frames_too_large.fetch_add(1, Ordering::Relaxed);
    }

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
        let cap = FrameCap::new(self.frame_limit, kind);
        QuicRecvStream::new(stream, cap, Arc::clone(&self.abuse))
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
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicBidiStream<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.opener, cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<QuicSendStream<B>, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.opener, cx)
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.opener, code, reason);
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

/// A connection's end, as h3 reads it.
pub(super) fn connection_error(error: ConnectionError) -> ConnectionErrorIncoming {
    match error {
        ConnectionError::ApplicationClosed(close) => ConnectionErrorIncoming::ApplicationClose {
            error_code: close.error_code.into_inner(),
        },
        ConnectionError::TimedOut => ConnectionErrorIncoming::Timeout,
        error => ConnectionErrorIncoming::Undefined(Arc::new(error)),
    }
}
