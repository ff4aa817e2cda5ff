//! An HTTP/3 client for the tests: h3's own, over h3-quinn, with quinn on smol's
//! global executor (no tokio runtime), trusting the test CA.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes};
use h3::client::SendRequest;
use h3::error::{ConnectionError, StreamError};
use smol::stream::StreamExt;

use super::certs::TestCa;

/// One QUIC connection speaking HTTP/3: the handle that opens request streams,
/// quinn's connection, and the task that drives h3's (its output: how the
/// connection ended).
pub struct H3Connection {
    pub send: SendRequest<h3_quinn::OpenStreams, Bytes>,
    pub quinn: quinn::Connection,
    pub driver: smol::Task<ConnectionError>,
    /// Sends the client's GOAWAY.
    pub goaway: smol::channel::Sender<()>,
    pub endpoint: quinn::Endpoint,
}

/// A response over HTTP/3.
pub type H3Response = super::StreamResponse;

/// A QUIC client endpoint trusting `ca`, offering ALPN h3.
pub fn endpoint(ca: &TestCa) -> quinn::Endpoint {
    endpoint_with(ca, quinn::TransportConfig::default())
}

/// The same, with `transport`'s settings (a small receive window, say).
pub fn endpoint_with(ca: &TestCa, transport: quinn::TransportConfig) -> quinn::Endpoint {
    let tls = (*ca.client_config(&[b"h3"])).clone();
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
}

/// Connects to `addr` over QUIC, for `localhost`, and starts HTTP/3.
pub async fn connect(addr: SocketAddr, ca: &TestCa) -> H3Connection {
    try_connect(endpoint(ca), addr)
        .await
        .expect("HTTP/3 connection")
}

/// Connects from `endpoint`; the error if the QUIC handshake fails.
pub async fn try_connect(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
) -> Result<H3Connection, quinn::ConnectionError> {
    let quinn = endpoint.connect(addr, "localhost").unwrap().await?;
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quinn.clone()))
        .await
        .expect("HTTP/3 set up");
    let (goaway, goaway_asked) = smol::channel::bounded(1);
    let mut goaway_asked = Box::pin(goaway_asked);
    let driver = smol::spawn(async move {
        loop {
            let next = poll_fn(|cx| {
                if let Poll::Ready(closed) = driver.poll_close(cx) {
                    return Poll::Ready(Err(closed));
                }
                goaway_asked.poll_next(cx).map(|_| Ok(()))
            });
            match next.await {
                Err(closed) => return closed,
                Ok(()) => driver.shutdown(0).await.unwrap(),
            }
        }
    });
    Ok(H3Connection {
        send,
        quinn,
        driver,
        goaway,
        endpoint,
    })
}

impl H3Connection {
    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Result<H3Response, StreamError> {
        let request = http::Request::get(format!("https://localhost{path}"))
            .body(())
            .unwrap();
        self.request(request).await
    }

    /// Sends `request` with no body; its response.
    pub async fn request(&mut self, request: http::Request<()>) -> Result<H3Response, StreamError> {
        let mut stream = self.send.send_request(request).await?;
        stream.finish().await?;
        let head = stream.recv_response().await?.into_parts().0;
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await? {
            while chunk.has_remaining() {
                let part = chunk.chunk();
                body.extend_from_slice(part);
                let read = part.len();
                chunk.advance(read);
            }
        }
        Ok(H3Response {
            head,
            body: Bytes::from(body),
        })
    }
}
