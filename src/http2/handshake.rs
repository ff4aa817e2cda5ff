//! What comes before h2 serves a connection: h2's settings, from the limits; and
//! the answer to a client whose preface is not HTTP/2's (RFC 9113 §3.4), which h2
//! would not send: GOAWAY(PROTOCOL_ERROR).

use h2::Reason;
use h2::server::Builder;
use smol::io::{AsyncWrite, AsyncWriteExt};

use crate::connection::CloseReason;
use crate::metrics::Metrics;
use crate::shared::Limits;

/// A GOAWAY frame: no stream taken up, PROTOCOL_ERROR.
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// h2's settings, from the limits.
pub fn builder(limits: &Limits) -> Builder {
    let mut builder = Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_head_size).unwrap_or(u32::MAX));
    builder
}

/// Answers a connection that began as HTTP/2's preface does and then broke off
/// from it: GOAWAY(PROTOCOL_ERROR), counted, then the close.
pub async fn refuse_preface<S: AsyncWrite + Unpin>(
    stream: &mut S,
    metrics: &Metrics,
) -> CloseReason {
    metrics.http2.goaway(Reason::PROTOCOL_ERROR.into());
    let _ = stream.write_all(&GOAWAY_PROTOCOL_ERROR).await;
    let _ = stream.close().await;
    CloseReason::Error
}
