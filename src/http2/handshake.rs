//! What comes before h2 serves a connection: the client's preface (RFC 9113 §3.4),
//! checked, so that a client that sends something else gets GOAWAY(PROTOCOL_ERROR),
//! which h2 would not send; and h2's settings, from the limits.

use std::time::Instant;

use h2::Reason;
use h2::server::Builder;
use log::debug;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PREFACE;
use crate::connection::CloseReason;
use crate::shared::{Limits, Shared};
use crate::transport::Peer;

/// A GOAWAY frame: no stream taken up, PROTOCOL_ERROR.
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// What a connection started with.
enum Preface {
    Valid,
    Invalid,
    Closed,
}

/// Reads the preface by `deadline`; on anything else, says so and gives why the
/// connection ends.
pub async fn check_preface<S, H>(
    stream: &mut S,
    shared: &Shared<H>,
    peer: &Peer,
    deadline: Instant,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match shared
        .timeouts
        .run_until(Some(deadline), read(stream))
        .await
    {
        None => Err(CloseReason::HeaderTimeout),
        Some(Preface::Valid) => Ok(()),
        Some(Preface::Closed) => Err(CloseReason::ClientClosed),
        Some(Preface::Invalid) => {
            debug!("{peer}: not the HTTP/2 preface");
            shared.metrics.http2.goaway(Reason::PROTOCOL_ERROR.into());
            let _ = stream.write_all(&GOAWAY_PROTOCOL_ERROR).await;
            let _ = stream.close().await;
            Err(CloseReason::Error)
        }
    }
}

/// Reads the client's preface, and compares it byte by byte as it arrives, so that
/// a client that sent something else is told at once.
async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Preface {
    let mut preface = [0; PREFACE.len()];
    let mut filled = 0;
    while filled < PREFACE.len() {
        match stream.read(&mut preface[filled..]).await {
            Ok(0) | Err(_) => return Preface::Closed,
            Ok(n) => filled += n,
        }
        if preface[..filled] != PREFACE[..filled] {
            return Preface::Invalid;
        }
    }
    Preface::Valid
}

/// h2's settings, from the limits.
pub fn builder(limits: &Limits) -> Builder {
    let mut builder = Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_head_size).unwrap_or(u32::MAX));
    builder
}
