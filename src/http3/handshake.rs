//! A QUIC connection's set-up: quinn's handshake, then h3's (its SETTINGS, its
//! control and QPACK streams), both within the header timeout.

use std::time::Instant;

use bytes::Bytes;

use super::transport::{Abuse, QuicConnection};
use crate::shared::Shared;
use std::sync::Arc;

/// How much longer than the longest head a frame other than DATA may be: the
/// QPACK encoding's own bytes.
const FRAME_SLACK: u64 = 1024;

/// A connection set up: h3's, quinn's handle of it, and what its transport stops.
pub type SetUp = (
    h3::server::Connection<QuicConnection, Bytes>,
    quinn::Connection,
    Arc<Abuse>,
);

/// Why a connection was not set up.
pub enum Failed {
    /// Not within the header timeout.
    Timeout,
    /// The handshake or h3's set-up failed.
    Error(String),
}

/// Sets up the connection `connecting` is, by `deadline`.
pub async fn set_up<H>(
    connecting: quinn::Connecting,
    deadline: Instant,
    shared: &Shared<H>,
) -> Result<SetUp, Failed> {
    let limits = &shared.rules.limits;
    let frame_limit = limits.max_head_size as u64 + FRAME_SLACK;
    let set_up = async {
        let connection = connecting.await.map_err(|error| error.to_string())?;
        let transport = QuicConnection::new(connection, frame_limit);
        let abuse = transport.abuse();
        let quinn = transport.quinn().clone();
        let h3 = h3::server::builder()
            .max_field_section_size(limits.max_head_size as u64)
            .build(transport)
            .await
            .map_err(|error| format!("HTTP/3 setup: {error}"))?;
        Ok::<_, String>((h3, quinn, abuse))
    };
    // Boxed: the set-up's state is larger than the connection's, and would stay
    // in the connection's task for as long as it is open.
    match shared
        .timeouts
        .run_until(Some(deadline), Box::pin(set_up))
        .await
    {
        Some(Ok(set_up)) => Ok(set_up),
        Some(Err(error)) => Err(Failed::Error(error)),
        None => Err(Failed::Timeout),
    }
}
