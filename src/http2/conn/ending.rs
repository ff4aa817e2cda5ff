//! How a connection is told to end, and why it ended: GOAWAY, graceful or not, a
//! flood, and h2's errors mapped to the close reasons.

use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use h2::Reason;
use log::debug;
use smol::io::{AsyncRead, AsyncWrite};

use super::Connection;
use crate::connection::CloseReason;
use crate::handler::Handler;
use crate::http2::flood::{self, Progress};
use crate::http2::stream::StreamFuture;
use crate::metrics::Flood;
use crate::shared::LINGER_TIMEOUT;

impl<'a, S, H> Connection<'a, '_, S, H>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    /// The flood the client is in, unless the connection is going already.
    pub(super) fn flood(&self) -> Option<Flood> {
        let max_streams = self.context.shared.rules.limits.max_concurrent_streams;
        (self.going_away.is_none())
            .then(|| {
                let progress = Progress {
                    writes_stalled: self.watch.write_stalled_since().is_some(),
                    ..self.progress
                };
                flood::detect(&self.watch.counts, progress, max_streams)
            })
            .flatten()
    }

    /// Ends a flooding connection: its streams dropped, GOAWAY(ENHANCE_YOUR_CALM).
    pub(super) fn flooded(
        &mut self,
        flood: Flood,
        streams: &mut FuturesUnordered<StreamFuture<'a>>,
    ) {
        debug!("{}: HTTP/2 flood: {}", self.context.peer, flood.label());
        self.context.shared.metrics.http2.flood(flood);
        streams.clear();
        self.abrupt(Reason::ENHANCE_YOUR_CALM, CloseReason::Error);
    }

    /// Tells the client to open no more streams (GOAWAY with NO_ERROR); the streams
    /// in flight finish, then the connection closes.
    pub(super) fn go_away(&mut self, reason: CloseReason) {
        if self.going_away.is_none() {
            debug!("{}: HTTP/2 GOAWAY ({})", self.context.peer, reason.label());
            self.context
                .shared
                .metrics
                .http2
                .goaway(Reason::NO_ERROR.into());
            self.h2.graceful_shutdown();
            self.going_away = Some(reason);
        }
    }

    /// Ends the connection with GOAWAY(`code`), whatever its streams; the frame
    /// has `LINGER_TIMEOUT` to go out.
    pub(super) fn abrupt(&mut self, code: Reason, reason: CloseReason) {
        self.context.shared.metrics.http2.goaway(code.into());
        self.h2.abrupt_shutdown(code);
        self.going_away = Some(reason);
        self.linger_until = Some(Instant::now() + LINGER_TIMEOUT);
    }

    /// Why the connection ended, now that h2 says it has.
    pub(super) fn closed(&self, closed: Result<(), h2::Error>) -> CloseReason {
        let error = match closed {
            Ok(()) => return self.going_away.unwrap_or(CloseReason::ClientClosed),
            Err(error) => error,
        };
        let peer = self.context.peer;
        if error.is_io() || error.is_remote() {
            debug!("{peer}: HTTP/2 connection closed by the client: {error}");
            return self.going_away.unwrap_or(CloseReason::ClientClosed);
        }
        debug!("{peer}: HTTP/2 connection ended: {error}");
        let metrics = &self.context.shared.metrics.http2;
        if error.is_go_away()
            && error.is_library()
            && let Some(reason) = error.reason()
        {
            metrics.goaway(reason.into());
            if reason == Reason::ENHANCE_YOUR_CALM {
                let block_open = self.watch.header_block_open_since().is_some();
                let max_streams = self.context.shared.rules.limits.max_concurrent_streams;
                let counts = &self.watch.counts;
                metrics.flood(flood::caught_by_h2(
                    counts,
                    self.progress,
                    block_open,
                    max_streams,
                ));
            }
        }
        CloseReason::Error
    }
}
